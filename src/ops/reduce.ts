import { allocateZeroed, kernelsFor } from '../backends/kernels.js';
import { record } from '../engine/autograd.js';
import { ShapeError } from '../engine/errors.js';
import { normAxes, numel, type Shape, shapesEqual } from '../engine/shape.js';
import { asFloat, Tensor } from '../engine/tensor.js';
import { abs, div, eq, mul, sqrt, sub } from './elementwise.js';
import { expand, reshape } from './views.js';

export interface ReduceOptions {
  /** Axes to reduce (negative counts from the end); all when omitted. */
  axis?: number | readonly number[];
  keepdim?: boolean;
}

function keptShape(shape: Shape, axes: readonly number[], keepdim: boolean): number[] {
  return keepdim ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
}

/** The shape with reduced axes set to 1, to broadcast a reduction back over its input. */
function keepdimShape(shape: Shape, axes: readonly number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

export function sum(x: Tensor, options: ReduceOptions = {}): Tensor {
  const xf = asFloat(x);
  const axes = normAxes(options.axis, xf.rank);
  const data = kernelsFor(xf.dtype).reduce('sum', xf.denseStorage(), xf.shape, axes);
  const out = new Tensor(data, keptShape(xf.shape, axes, options.keepdim ?? false), xf.dtype);
  return record(out, 'sum', [xf], (g) => [expand(reshape(g, keepdimShape(xf.shape, axes)), xf.shape)]);
}

/**
 * How many of x's values are exactly zero (false, for a bool tensor): counted in f64, so exactly at any size (an f32
 * sum would stop counting at 2^24), and read back as the one scalar it is.
 */
export function countZeros(x: Tensor): number {
  const flags = x.dtype === 'bool' ? x : eq(x, 0);
  const trues = new Tensor(allocateZeroed('f64', 1), [1], 'f64');
  kernelsFor('bool').accumulateColumns('sum', flags.denseStorage(), flags.size, 1, trues.denseStorage());
  return x.dtype === 'bool' ? x.size - trues.item() : trues.item();
}

export function mean(x: Tensor, options: ReduceOptions = {}): Tensor {
  const xf = asFloat(x);
  const axes = normAxes(options.axis, xf.rank);
  const count = numel(axes.map((a) => xf.shape[a]));
  return div(sum(xf, options), count);
}

/** amax/amin semantics: the gradient is split evenly between tied extremes. */
function extreme(op: 'max' | 'min', x: Tensor, options: ReduceOptions): Tensor {
  const xf = asFloat(x);
  const axes = normAxes(options.axis, xf.rank);
  if (axes.some((a) => xf.shape[a] === 0)) throw new ShapeError(`${op} over an empty axis`);
  const data = kernelsFor(xf.dtype).reduce(op, xf.denseStorage(), xf.shape, axes);
  const out = new Tensor(data, keptShape(xf.shape, axes, options.keepdim ?? false), xf.dtype);
  return record(out, op, [xf], (g) => {
    const kd = keepdimShape(xf.shape, axes);
    const hits = eq(xf, reshape(out.detach(), kd)).to(xf.dtype);
    const counts = sum(hits, { axis: axes, keepdim: true });
    return [mul(hits, div(reshape(g, kd), counts))];
  });
}

export function max(x: Tensor, options: ReduceOptions = {}): Tensor {
  return extreme('max', x, options);
}

export function min(x: Tensor, options: ReduceOptions = {}): Tensor {
  return extreme('min', x, options);
}

function argExtreme(op: 'argmax' | 'argmin', x: Tensor, axis: number | undefined, keepdim: boolean): Tensor {
  const xf = asFloat(x);
  const axes = normAxes(axis, xf.rank);
  if (axes.some((a) => xf.shape[a] === 0)) throw new ShapeError(`${op} over an empty axis`);
  const data = kernelsFor(xf.dtype).reduce(op, xf.denseStorage(), xf.shape, axes);
  return new Tensor(
    data,
    axis === undefined ? (keepdim ? xf.shape.map(() => 1) : []) : keptShape(xf.shape, axes, keepdim),
    'i32',
  );
}

/** Index of the largest value along one axis (flat index when no axis is given), as i32. */
export function argmax(x: Tensor, options: { axis?: number; keepdim?: boolean } = {}): Tensor {
  return argExtreme('argmax', x, options.axis, options.keepdim ?? false);
}

export function argmin(x: Tensor, options: { axis?: number; keepdim?: boolean } = {}): Tensor {
  return argExtreme('argmin', x, options.axis, options.keepdim ?? false);
}

/** Variance with Bessel's correction by default (correction 1), as torch.var. */
export function variance(x: Tensor, options: ReduceOptions & { correction?: number } = {}): Tensor {
  const xf = asFloat(x);
  const axes = normAxes(options.axis, xf.rank);
  const count = numel(axes.map((a) => xf.shape[a]));
  const centered = sub(xf, mean(xf, { axis: axes, keepdim: true }));
  const ss = sum(mul(centered, centered), { axis: axes, keepdim: options.keepdim });
  return div(ss, Math.max(0, count - (options.correction ?? 1)));
}

/** Vector p-norm over the axes: p = 2 (default), 1, or Infinity. */
export function norm(x: Tensor, options: ReduceOptions & { p?: number } = {}): Tensor {
  const p = options.p ?? 2;
  const reduce = { axis: options.axis, keepdim: options.keepdim };
  if (p === 2) return sqrt(sum(mul(x, x), reduce));
  if (p === 1) return sum(abs(x), reduce);
  if (p === Number.POSITIVE_INFINITY) return max(abs(x), reduce);
  throw new ShapeError(`norm supports p = 1, 2 or Infinity, got ${p}`);
}

/** Sum a broadcast gradient back down to `shape` (the inverse of broadcasting). */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (shapesEqual(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const summed = axes.length > 0 ? sum(g, { axis: axes, keepdim: true }) : g;
  return reshape(summed, shape);
}
