import { binaryFlat } from '../backends/registry.js';
import { allocUninit, type FloatArray } from './dtype.js';
import { AutogradError } from './errors.js';
import { shapesEqual } from './shape.js';
import { type GradNode, Tensor } from './tensor.js';

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Run fn without recording on the tape (inference, optimiser updates). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** True when an op on these inputs must be recorded. */
export function needsGrad(...inputs: (Tensor | null | undefined)[]): boolean {
  if (!gradEnabled) return false;
  for (const t of inputs) if (t?.requiresGrad) return true;
  return false;
}

/**
 * Record `out` as produced by `op` from `inputs`, if any input requires grad.
 * `backwardFn` maps dL/dout to one dL/dinput per input (null where no gradient flows).
 */
export function record(
  out: Tensor,
  op: string,
  inputs: Tensor[],
  backwardFn: (grad: Tensor) => (Tensor | null)[],
): Tensor {
  if (!needsGrad(...inputs)) return out;
  out.requiresGrad = true;
  out.gradNode = { op, inputs, backward: backwardFn };
  return out;
}

/** a + b into a fresh array of a's kind (gradients of a tensor used more than once). */
function addArrays(a: FloatArray, b: FloatArray): FloatArray {
  const out = allocUninit(a instanceof Float32Array ? 'f32' : 'f64', a.length) as FloatArray;
  binaryFlat('add', out, a, b);
  return out;
}

/** Nodes reachable from root, ordered so that every tensor comes after all tensors computed from it. */
function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  const stack: [Tensor, number][] = [[root, 0]];
  visited.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    const inputs = t.gradNode?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const child = inputs[i];
      if (child.requiresGrad && !visited.has(child)) {
        visited.add(child);
        stack.push([child, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order.reverse();
}

function freeNode(node: GradNode): void {
  node.backward = null;
  node.inputs = [];
}

/**
 * Reverse-mode autodiff: accumulate d(root)/d(leaf) into every reachable leaf's `.grad`.
 * The graph is freed afterwards unless retainGraph is set.
 */
export function backward(root: Tensor, grad?: Tensor, options: { retainGraph?: boolean } = {}): void {
  if (!root.requiresGrad) throw new AutogradError('backward() on a tensor that does not require grad');
  if (root.gradNode && root.gradNode.backward === null) {
    throw new AutogradError(
      `backward through a graph that was already freed (op '${root.gradNode.op}'); pass {retainGraph: true} to the first backward`,
    );
  }
  let seed = grad;
  if (!seed) {
    if (root.size !== 1) {
      throw new AutogradError(`backward() of a non-scalar (shape [${root.shape}]) needs an explicit gradient`);
    }
    const one = new (root.dtype === 'f64' ? Float64Array : Float32Array)(1);
    one[0] = 1;
    seed = new Tensor(one, root.shape, root.dtype);
  } else if (!shapesEqual(seed.shape, root.shape)) {
    throw new AutogradError(`gradient shape [${seed.shape}] does not match output shape [${root.shape}]`);
  }
  const order = topoOrder(root);
  const grads = new Map<Tensor, Tensor>([[root, seed]]);
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    for (const t of order) {
      const g = grads.get(t);
      grads.delete(t);
      if (!g) continue;
      const node = t.gradNode;
      if (!node) {
        accumulateLeaf(t, g);
        continue;
      }
      if (!node.backward) {
        throw new AutogradError(`backward through a freed part of the graph (op '${node.op}')`);
      }
      const inputGrads = node.backward(g);
      node.inputs.forEach((input, k) => {
        const ig = inputGrads[k];
        if (!ig || !input.requiresGrad) return;
        if (!shapesEqual(ig.shape, input.shape)) {
          throw new AutogradError(
            `op '${node.op}' returned a gradient of shape [${ig.shape}] for an input of shape [${input.shape}]`,
          );
        }
        const existing = grads.get(input);
        grads.set(
          input,
          existing ? new Tensor(addArrays(existing.floatData(), ig.floatData()), input.shape, existing.dtype) : ig,
        );
      });
      if (!options.retainGraph) freeNode(node);
    }
  } finally {
    gradEnabled = prev;
  }
}

function accumulateLeaf(leaf: Tensor, g: Tensor): void {
  if (!leaf.grad) {
    // Own the buffer: g may be a view of some other tensor's storage.
    leaf.grad = g.dtype === leaf.dtype ? g.clone() : g.to(leaf.dtype);
    return;
  }
  const dst = leaf.grad.dataSync() as FloatArray; // a contiguous host array owned by the leaf
  const src = g.floatData();
  for (let i = 0; i < dst.length; i++) dst[i] += src[i];
}
