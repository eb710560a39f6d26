import { type BinaryOp, kernelsFor, type StorageHandle, upload } from '../../backends/kernels.js';
import { noGrad } from '../../engine/autograd.js';
import { itemSize } from '../../engine/dtype.js';
import { DTypeError, LitheError } from '../../engine/errors.js';
import { shapesEqual } from '../../engine/shape.js';
import { Tensor } from '../../engine/tensor.js';
import { type Module, parameterMask } from '../../nn/module.js';
import { quantizedWeightOf } from '../../nn/quant-linear.js';
import type { TensorSpec } from '../../nn/state-dict.js';
import { assign_, maskInPlace_ } from '../../ops/assign.js';
import { where } from '../../ops/elementwise.js';
import { reshape } from '../../ops/views.js';

/** Bad optimiser, schedule or clipping options, or a state dict that does not fit. */
export class OptimizerError extends LitheError {}

/** Hyperparameters every group has; optimisers extend this with their own. */
export interface GroupHyper {
  lr: number;
  weightDecay: number;
}

/** Parameters as given by the caller: plain tensors, or named ones (e.g. from `Module.namedParameters()`). */
export type ParamsInput = Tensor[] | Map<string, Tensor>;

/** One group as given to a constructor: its parameters and any hyperparameters that differ from the defaults. */
export type ParamGroupSpec<H extends GroupHyper = GroupHyper> = { params: ParamsInput } & Partial<H>;

/** A group as the optimiser holds it; the training loop may change `lr` (or any hyperparameter) between steps. */
export type ParamGroup<H extends GroupHyper> = H & {
  readonly params: readonly Tensor[];
  /** Parameter names when the group was built from named parameters; checked when a state dict is loaded. */
  readonly names: readonly string[] | null;
  /** The lr the group was created with; schedules scale this (torch's `initial_lr`). */
  baseLr: number;
};

/** One value of a parameter's optimiser state: buffers are flat tensors ([n]: f32, or a quantised projection's integer codes and zero points), updated in place; the rest is JSON. */
export type StateValue = number | boolean | null | Tensor;
export type ParamState = Record<string, StateValue>;

/**
 * Everything needed to resume bit-for-bit: JSON-able hyperparameters and scalar state, plus the
 * buffers (moments, momentum) keyed `${paramIndex}.${stateKey}`, ready to be saved as tensors.
 * Parameters are indexed in group order, as torch does.
 */
export interface OptimizerStateDict {
  kind: string;
  groups: Record<string, unknown>[];
  state: (Record<string, number | boolean | null> | null)[];
  buffers: Record<string, Tensor>;
  /** JSON state of the optimiser as a whole (e.g. a random generator's), where it has any. */
  extra?: Record<string, unknown>;
}

/** The storage of a contiguous f32 tensor, which it shares: a kernel writing through it updates the tensor in place. */
export function f32Storage(t: Tensor, what: string): StorageHandle {
  if (t.dtype !== 'f32') throw new DTypeError(`${what} must be f32, got ${t.dtype}`);
  if (!t.isContiguous()) throw new OptimizerError(`${what} must be contiguous to be updated in place`);
  return t.denseStorage();
}

/**
 * target ← target op operand elementwise, in place: target is a contiguous f32 tensor, operand an f32 tensor of as many
 * elements (read in row-major order) or a scalar (rounded to f32).
 */
export function updateInPlace(target: Tensor, op: BinaryOp, operand: Tensor | number): void {
  const data = f32Storage(target, 'an updated tensor');
  const n = target.size;
  if (typeof operand !== 'number' && operand.size !== n) {
    throw new OptimizerError(`an update of ${operand.size} values for a tensor of ${n}`);
  }
  const other =
    typeof operand === 'number'
      ? { data: upload(Float32Array.of(operand)), strides: [0], offset: 0 }
      : { data: operand.denseStorage(), strides: [1], offset: 0 };
  kernelsFor('f32').binary(op, data, [n], { data, strides: [1], offset: 0 }, other);
}

/** The gradient with the entries a parameter's mask removes set to 0, as a new tensor (the gradient is left alone). */
const maskedGradient = (grad: Tensor, mask: Tensor): Tensor => where(mask, grad, 0);

/** A copy of `defaults` overridden by every option that is given (not undefined); unknown options are an error. */
export function withDefaults<T extends object>(defaults: T, given: Partial<T>): T {
  const set = Object.entries(given).filter(([, v]) => v !== undefined);
  for (const [key] of set) if (!(key in defaults)) throw new OptimizerError(`unknown option '${key}'`);
  return { ...structuredClone(defaults), ...Object.fromEntries(set) } as T;
}

function normaliseGroups<H extends GroupHyper>(
  params: ParamsInput | ParamGroupSpec<H>[],
): { spec: Partial<H>; params: Tensor[]; names: string[] | null }[] {
  const isTensorList = Array.isArray(params) && (params.length === 0 || params[0] instanceof Tensor);
  const specs =
    isTensorList || params instanceof Map ? [{ params } as ParamGroupSpec<H>] : (params as ParamGroupSpec<H>[]);
  return specs.map(({ params: ps, ...spec }) => ({
    spec: spec as unknown as Partial<H>,
    params: ps instanceof Map ? [...ps.values()] : ps,
    names: ps instanceof Map ? [...ps.keys()] : null,
  }));
}

/**
 * Base of every optimiser: parameter groups, lazily created per-parameter state, in-place f32 updates
 * and state dicts. A subclass supplies `initState` and `updateParam`, the math on one parameter as tensors
 * (kernels writing into the parameter's and the state's storage), so that wrappers (e.g. GaLore on projected
 * gradients) can reuse it without copying it.
 */
export abstract class Optimizer<H extends GroupHyper, S extends ParamState> {
  readonly groups: ParamGroup<H>[];
  private readonly state = new Map<Tensor, S>();

  constructor(params: ParamsInput | ParamGroupSpec<H>[], defaults: H) {
    const seen = new Set<Tensor>();
    this.groups = normaliseGroups<H>(params).map(({ spec, params: ps, names }) => {
      for (const p of ps) {
        if (seen.has(p)) throw new OptimizerError('a parameter appears in more than one group');
        seen.add(p);
        if (!quantizedWeightOf(p)) f32Storage(p, 'an optimised parameter');
        else if (!this.trainsQuantizedWeights()) {
          throw new OptimizerError(`${this.constructor.name} cannot train a quantised weight (QGaLoreAdamW can)`);
        }
      }
      const hyper = withDefaults(defaults, spec);
      this.checkHyper(hyper);
      return { ...hyper, params: ps, names, baseLr: hyper.lr };
    });
    if (seen.size === 0) throw new OptimizerError('the optimiser got no parameters');
  }

  /** Whether a QuantLinear's weight (its gradient sink, see quantizedWeightOf) may be a parameter; no by default. */
  protected trainsQuantizedWeights(): boolean {
    return false;
  }

  /** A parameter's state, or undefined before its first update. */
  protected stateOf(param: Tensor): S | undefined {
    return this.state.get(param);
  }

  /** Throw an OptimizerError for out-of-range hyperparameters. */
  protected abstract checkHyper(hyper: H): void;

  /** Fresh state for a parameter, created at its first update. */
  protected abstract initState(param: Tensor, group: ParamGroup<H>): S;

  /**
   * Update one parameter (contiguous f32, see f32Storage) in place from its gradient, an f32 tensor of its shape that
   * must not be modified.
   */
  protected abstract updateParam(param: Tensor, grad: Tensor, state: S, group: ParamGroup<H>): void;

  /**
   * One update of every parameter that has a gradient; parameters without one (and their state) are left as they are.
   * A masked parameter (`parameterMask`, e.g. a pruned Linear's weight) is updated from its gradient with the masked
   * entries zeroed, so moments and momentum there stay 0 (AdamW cannot regrow them), and its masked entries are
   * zeroed again after the update.
   */
  step(): void {
    noGrad(() => {
      for (const group of this.groups) {
        for (const p of group.params) {
          if (!p.grad) continue;
          if (!shapesEqual(p.grad.shape, p.shape)) {
            throw new OptimizerError(`gradient of shape [${p.grad.shape}] for a parameter of shape [${p.shape}]`);
          }
          if (p.grad.dtype !== 'f32') throw new DTypeError(`gradients must be f32, got ${p.grad.dtype}`);
          let state = this.state.get(p);
          if (!state) {
            state = this.initState(p, group);
            this.state.set(p, state);
          }
          const mask = parameterMask(p);
          this.updateParam(p, mask ? maskedGradient(p.grad, mask) : p.grad, state, group);
          if (mask) maskInPlace_(p, mask);
        }
      }
    });
  }

  /** Bytes of the state buffers held for the parameters `select` keeps (all by default): the optimiser's memory. */
  stateBytes(select: (param: Tensor) => boolean = () => true): number {
    let bytes = 0;
    for (const [param, state] of this.state) {
      if (!select(param)) continue;
      for (const value of Object.values(state))
        if (value instanceof Tensor) bytes += value.size * itemSize(value.dtype);
    }
    return bytes;
  }

  /** Drop every parameter's gradient (torch's `zero_grad(set_to_none=True)`). */
  zeroGrad(): void {
    for (const group of this.groups) for (const p of group.params) p.grad = null;
  }

  /** Set every group's lr to its base lr times `factor`, the value of an LR schedule. */
  setLrFactor(factor: number): void {
    for (const group of this.groups) group.lr = group.baseLr * factor;
  }

  /** A copy of the hyperparameters and state; later steps do not change it. */
  stateDict(): OptimizerStateDict {
    const buffers: Record<string, Tensor> = {};
    const state: OptimizerStateDict['state'] = [];
    for (const p of this.groups.flatMap((g) => g.params)) {
      const s = this.state.get(p);
      if (!s) {
        state.push(null);
        continue;
      }
      const scalars: Record<string, number | boolean | null> = {};
      for (const [key, value] of Object.entries(s)) {
        if (value instanceof Tensor) buffers[`${state.length}.${key}`] = value.clone();
        else scalars[key] = value;
      }
      state.push(scalars);
    }
    const groups = this.groups.map(({ params, ...rest }) => ({ ...structuredClone(rest), paramCount: params.length }));
    return { kind: this.constructor.name, groups, state, buffers };
  }

  /**
   * The buffers a state dict with this per-parameter state must hold, by key (`${paramIndex}.${stateKey}`), with their
   * shapes: what a saved optimiser state is read and checked against (readState) before loadStateDict.
   */
  bufferSpecs(state: OptimizerStateDict['state']): Map<string, TensorSpec> {
    const specs = new Map<string, TensorSpec>();
    const params = this.groups.flatMap((g) => g.params.map((p) => [p, g] as const));
    params.forEach(([p, group], index) => {
      if (!state[index]) return;
      for (const [key, template] of Object.entries(this.initState(p, group))) {
        if (template instanceof Tensor) specs.set(`${index}.${key}`, { shape: template.shape, dtype: template.dtype });
      }
    });
    return specs;
  }

  /** Restore hyperparameters and state saved by `stateDict()` from an optimiser over the same parameters. */
  loadStateDict(dict: OptimizerStateDict): void {
    if (dict.kind !== this.constructor.name) {
      throw new OptimizerError(`state dict of a ${dict.kind} loaded into a ${this.constructor.name}`);
    }
    if (dict.groups.length !== this.groups.length) {
      throw new OptimizerError(
        `state dict has ${dict.groups.length} parameter groups, the optimiser ${this.groups.length}`,
      );
    }
    this.groups.forEach((group, i) => {
      const saved = dict.groups[i];
      if (saved.paramCount !== group.params.length) {
        throw new OptimizerError(
          `group ${i} has ${group.params.length} parameters, the state dict ${saved.paramCount}`,
        );
      }
      const savedNames = saved.names as string[] | null;
      if (group.names && savedNames && group.names.some((n, k) => n !== savedNames[k])) {
        throw new OptimizerError(`group ${i} holds different parameters than the state dict`);
      }
    });
    const params = this.groups.flatMap((g) => g.params.map((p) => [p, g] as const));
    if (dict.state.length !== params.length) {
      throw new OptimizerError(
        `state dict has state for ${dict.state.length} parameters, the optimiser has ${params.length}`,
      );
    }
    // Validate everything before changing anything, so a failed load leaves the optimiser as it was.
    const restored = params.map(([p, group], index) => {
      const scalars = dict.state[index];
      return scalars && this.restoreState(p, group, index, scalars, dict.buffers);
    });
    this.state.clear();
    restored.forEach((s, index) => {
      if (s) this.state.set(params[index][0], s);
    });
    this.groups.forEach((group, i) => {
      const { paramCount: _count, names: _names, ...hyper } = structuredClone(dict.groups[i]);
      Object.assign(group, hyper);
    });
  }

  private restoreState(
    param: Tensor,
    group: ParamGroup<H>,
    index: number,
    scalars: Record<string, number | boolean | null>,
    buffers: Record<string, Tensor>,
  ): S {
    // A fresh state is the template: the same keys, and buffers of the same sizes.
    const fresh = this.initState(param, group);
    for (const [key, template] of Object.entries(fresh) as [string, StateValue][]) {
      const where = `state of parameter ${index}, '${key}'`;
      if (template instanceof Tensor) {
        const saved = buffers[`${index}.${key}`];
        if (!(saved instanceof Tensor) || saved.dtype !== template.dtype || saved.size !== template.size) {
          throw new OptimizerError(`${where}: expected a ${template.dtype} buffer of ${template.size} values`);
        }
        assign_(template, reshape(saved, template.shape));
      } else {
        if (!(key in scalars)) throw new OptimizerError(`${where}: missing`);
        (fresh as ParamState)[key] = scalars[key];
      }
    }
    return fresh;
  }
}

/** Which parameters get no weight decay: anything 1-D (norms, biases), and embeddings. */
export function defaultNoDecay(name: string, t: Tensor): boolean {
  return t.rank < 2 || name.endsWith('norm.weight') || name.endsWith('bias') || name.endsWith('embed_tokens.weight');
}

export interface DecayGroupsOptions {
  /** Weight decay of the decayed group (default 0.01, torch's AdamW default). */
  weightDecay?: number;
  /** Parameters to exclude from decay (default `defaultNoDecay`). */
  noDecay?: (name: string, t: Tensor) => boolean;
}

/**
 * Split a model's trainable parameters into a decayed group and a no-decay group (weightDecay 0),
 * both always present so that state dicts keep the same layout. Frozen parameters are left out.
 */
export function decayGroups<H extends GroupHyper>(
  model: Module | Map<string, Tensor>,
  options: DecayGroupsOptions = {},
): [ParamGroupSpec<H>, ParamGroupSpec<H>] {
  const noDecay = options.noDecay ?? defaultNoDecay;
  const named = model instanceof Map ? model : model.namedParameters();
  const decayed = new Map<string, Tensor>();
  const undecayed = new Map<string, Tensor>();
  for (const [name, t] of named) {
    if (!t.requiresGrad) continue;
    (noDecay(name, t) ? undecayed : decayed).set(name, t);
  }
  return [
    { params: decayed, weightDecay: options.weightDecay ?? 0.01 } as ParamGroupSpec<H>,
    { params: undecayed, weightDecay: 0 } as ParamGroupSpec<H>,
  ];
}
