import { kernelsFor, stridedOperand } from '../backends/kernels.js';
import { record } from '../engine/autograd.js';
import { allocStorage } from '../engine/dtype.js';
import { ShapeError } from '../engine/errors.js';
import { broadcastStrides, normAxis, numel, type Shape, shapesEqual } from '../engine/shape.js';
import { Tensor } from '../engine/tensor.js';
import { sumTo } from './reduce.js';

/** A contiguous copy (or the tensor itself if already contiguous). */
export function contiguous(x: Tensor): Tensor {
  if (x.isContiguous()) return x;
  const out = new Tensor(x.clone().storage, x.shape, x.dtype);
  return record(out, 'contiguous', [x], (g) => [g]);
}

function resolveShape(shape: Shape, size: number): number[] {
  const s = [...shape];
  const infer = s.indexOf(-1);
  if (infer !== s.lastIndexOf(-1)) throw new ShapeError(`only one -1 allowed in [${shape}]`);
  if (infer >= 0) {
    const rest = numel(s.filter((_, i) => i !== infer));
    if (rest === 0 || size % rest !== 0) throw new ShapeError(`cannot reshape ${size} elements into [${shape}]`);
    s[infer] = size / rest;
  }
  for (const d of s) if (!Number.isInteger(d) || d < 0) throw new ShapeError(`invalid shape [${shape}]`);
  if (numel(s) !== size) throw new ShapeError(`cannot reshape [${size} elements] into [${shape}]`);
  return s;
}

/** Reshape; a view when the input is contiguous, else a copy. One -1 is inferred. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const s = resolveShape(shape, x.size);
  if (shapesEqual(s, x.shape)) return x;
  const src = x.isContiguous() ? x : contiguous(x);
  const out = new Tensor(src.storage, s, src.dtype, undefined, src.offset);
  return record(out, 'reshape', [src], (g) => [reshape(g, src.shape)]);
}

export function flatten(x: Tensor, startAxis = 0, endAxis = -1): Tensor {
  if (x.rank === 0) return reshape(x, [1]);
  const a = normAxis(startAxis, x.rank);
  const b = normAxis(endAxis, x.rank);
  const mid = numel(x.shape.slice(a, b + 1));
  return reshape(x, [...x.shape.slice(0, a), mid, ...x.shape.slice(b + 1)]);
}

export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = normAxis(axis, x.rank + 1);
  return reshape(x, [...x.shape.slice(0, a), 1, ...x.shape.slice(a)]);
}

/** Drop size-1 axes (all of them, or the ones named). */
export function squeeze(x: Tensor, axis?: number): Tensor {
  if (axis === undefined)
    return reshape(
      x,
      x.shape.filter((d) => d !== 1),
    );
  const a = normAxis(axis, x.rank);
  if (x.shape[a] !== 1) return x;
  return reshape(x, [...x.shape.slice(0, a), ...x.shape.slice(a + 1)]);
}

/** Reorder axes (a strided view, no copy). */
export function permute(x: Tensor, order: readonly number[]): Tensor {
  if (order.length !== x.rank) throw new ShapeError(`permute order [${order}] does not match rank ${x.rank}`);
  const axes = order.map((a) => normAxis(a, x.rank));
  if (new Set(axes).size !== axes.length) throw new ShapeError(`permute order [${order}] repeats an axis`);
  const out = new Tensor(
    x.storage,
    axes.map((a) => x.shape[a]),
    x.dtype,
    axes.map((a) => x.strides[a]),
    x.offset,
  );
  const inverse = new Array<number>(axes.length);
  axes.forEach((a, i) => {
    inverse[a] = i;
  });
  return record(out, 'permute', [x], (g) => [permute(g, inverse)]);
}

/** Swap two axes (default: the last two). */
export function transpose(x: Tensor, axis0 = -2, axis1 = -1): Tensor {
  const a = normAxis(axis0, x.rank);
  const b = normAxis(axis1, x.rank);
  const order = Array.from({ length: x.rank }, (_, i) => i);
  order[a] = b;
  order[b] = a;
  return permute(x, order);
}

/**
 * Elements start, start+step, ... below end along one axis (negative start/end count from the end).
 * A view; its gradient scatters back into zeros.
 */
export function slice(x: Tensor, axis: number, start: number, end?: number, step = 1): Tensor {
  const a = normAxis(axis, x.rank);
  const dim = x.shape[a];
  if (!Number.isInteger(step) || step < 1) throw new ShapeError(`slice step must be a positive integer, got ${step}`);
  const clampIdx = (i: number) => Math.min(dim, Math.max(0, i < 0 ? i + dim : i));
  const s = clampIdx(start);
  const e = Math.max(s, clampIdx(end ?? dim));
  const len = Math.ceil((e - s) / step);
  const shape = [...x.shape];
  shape[a] = len;
  const strides = [...x.strides];
  strides[a] = x.strides[a] * step;
  const out = new Tensor(x.storage, shape, x.dtype, strides, x.offset + s * x.strides[a]);
  return record(out, 'slice', [x], (g) => {
    const full = new Tensor(allocStorage(g.dtype, x.size), x.shape, g.dtype);
    const view = new Tensor(full.storage, shape, g.dtype, sliceStrides(full, a, step), s * full.strides[a]);
    writeInto(view, g);
    return [full];
  });
}

function sliceStrides(t: Tensor, axis: number, step: number): number[] {
  const strides = [...t.strides];
  strides[axis] *= step;
  return strides;
}

/** Copy src's values into a (possibly strided) destination view of the same shape. */
export function writeInto(dst: Tensor, src: Tensor): void {
  if (!shapesEqual(dst.shape, src.shape)) throw new ShapeError(`cannot write [${src.shape}] into [${dst.shape}]`);
  kernelsFor(dst.dtype).writeStrided(stridedOperand(dst), dst.shape, src.denseStorage());
}

/** Broadcast to a larger shape without copying (stride 0 on the new axes); the gradient sums back. */
export function expand(x: Tensor, shape: Shape): Tensor {
  const target = shape.map((d, i) => (d === -1 ? x.shape[i - (shape.length - x.rank)] : d));
  if (shapesEqual(target, x.shape)) return x;
  const out = new Tensor(x.storage, target, x.dtype, broadcastStrides(x.shape, x.strides, target), x.offset);
  return record(out, 'expand', [x], (g) => [sumTo(g, x.shape)]);
}
