import { allocateZeroed, kernelsFor } from '../backends/kernels.js';
import { ShapeError } from '../engine/errors.js';
import { normAxis, numel } from '../engine/shape.js';
import { asFloat, Tensor } from '../engine/tensor.js';
import { gather } from './indexing.js';

export interface SortOptions {
  /** Axis to sort along (negative counts from the end); default -1. */
  axis?: number;
  /** Largest first; default false. */
  descending?: boolean;
  /** Keep equal values in their original order. Accepted for torch parity: the sort is always stable. */
  stable?: boolean;
}

export interface TopkOptions {
  /** Axis to select along (negative counts from the end); default -1. */
  axis?: number;
  /** The k largest (default) or the k smallest. */
  largest?: boolean;
  /** Best first (default); when false the k picks come in their original order along the axis. */
  sorted?: boolean;
}

/** Selected values and their positions (i32) along the axis, as torch's (values, indices). */
export interface ValuesIndices {
  values: Tensor;
  indices: Tensor;
}

/** x as floats, its normalised axis, and the [outer, n, inner] split around that axis. */
function rows(x: Tensor, axis: number): { xf: Tensor; a: number; outer: number; n: number; inner: number } {
  const xf = asFloat(x);
  const a = normAxis(axis, xf.rank);
  return { xf, a, outer: numel(xf.shape.slice(0, a)), n: xf.shape[a], inner: numel(xf.shape.slice(a + 1)) };
}

/**
 * torch.sort: values along an axis in ascending (or descending) order, and where each came from.
 * Stable: equal values keep their original order. NaN sorts above +Inf; -0 and +0 are equal.
 * The values are gathered at the indices, so their gradient scatters back to where they came from.
 */
export function sort(x: Tensor, options: SortOptions = {}): ValuesIndices {
  const xf = asFloat(x);
  const indices = argsort(xf, options);
  return { values: gather(xf, normAxis(options.axis ?? -1, xf.rank), indices), indices };
}

/** The positions (i32) that would sort x along an axis, in the same order as sort. */
export function argsort(x: Tensor, options: SortOptions = {}): Tensor {
  const { xf, outer, n, inner } = rows(x, options.axis ?? -1);
  const indices = allocateZeroed('i32', xf.size);
  kernelsFor(xf.dtype).sort(xf.denseStorage(), outer, n, inner, options.descending ?? false, indices);
  return new Tensor(indices, xf.shape, 'i32');
}

/**
 * torch.topk: the k largest (or smallest) values along an axis, and their positions (i32).
 * Ties go to the lowest position; NaN counts as larger than everything, as in torch.
 * Selection is one heap pass when k is small against the axis length, else a full radix sort.
 */
export function topk(x: Tensor, k: number, options: TopkOptions = {}): ValuesIndices {
  const { xf, a, outer, n, inner } = rows(x, options.axis ?? -1);
  if (!Number.isInteger(k) || k < 0 || k > n)
    throw new ShapeError(`topk: k = ${k} out of range for axis ${a} of size ${n}`);
  const shape = [...xf.shape];
  shape[a] = k;
  const found = allocateZeroed('i32', numel(shape));
  kernelsFor(xf.dtype).topk(
    xf.denseStorage(),
    outer,
    n,
    inner,
    k,
    options.largest ?? true,
    options.sorted ?? true,
    found,
  );
  const indices = new Tensor(found, shape, 'i32');
  return { values: gather(xf, a, indices), indices };
}
