import { allocate, allocateZeroed, kernelsFor, type StorageHandle, stridedOperand } from '../backends/kernels.js';
import { record } from '../engine/autograd.js';
import { DTypeError, ShapeError } from '../engine/errors.js';
import { contiguousStrides, normAxis, numel } from '../engine/shape.js';
import { asFloat, resultDType, Tensor } from '../engine/tensor.js';
import { reshape, slice } from './views.js';

/** An index tensor's values in row-major order, as storage; it must be i32. */
function indexData(index: Tensor, op: string): StorageHandle {
  if (index.dtype !== 'i32') throw new DTypeError(`${op}: indices must be i32, got ${index.dtype}`);
  return index.denseStorage();
}

/** The smallest or largest of n i32 values (n > 0), read back as the one scalar it is. */
function extreme(op: 'min' | 'max', index: StorageHandle, n: number): number {
  return new Tensor(kernelsFor('i32').reduce(op, index, [n], [0]), [], 'i32').item();
}

/** A value outside [0, size) (the smallest or the largest), or null when all n are in range. */
function outOfRange(index: StorageHandle, n: number, size: number): number | null {
  if (n === 0) return null;
  const low = extreme('min', index, n);
  if (low < 0) return low;
  const high = extreme('max', index, n);
  return high >= size ? high : null;
}

function checkRange(op: string, index: StorageHandle, n: number, axis: number, size: number): void {
  const bad = outOfRange(index, n, size);
  if (bad !== null) throw new ShapeError(`${op}: index ${bad} out of range for axis ${axis} of size ${size}`);
}

/** A fresh contiguous copy of x's elements in dtype, for an out-of-place op to add into. */
function copyOf(x: Tensor, dtype: 'f32' | 'f64'): StorageHandle {
  return (x.dtype === dtype ? x.clone() : x.to(dtype)).storage;
}

/** [outer, dim, inner] sizes of a shape split around one axis. */
function around(shape: readonly number[], axis: number): [number, number, number] {
  return [numel(shape.slice(0, axis)), shape[axis], numel(shape.slice(axis + 1))];
}

/**
 * Rows of weight [V, C] picked by integer ids of any shape: the result is [...ids.shape, C].
 * The gradient scatter-adds into the picked rows, so repeated ids accumulate.
 */
export function embedding(weight: Tensor, ids: Tensor): Tensor {
  if (weight.rank !== 2) throw new ShapeError(`embedding: weight must be [vocab, dim], got [${weight.shape}]`);
  const flat = indexData(ids, 'embedding');
  const bad = outOfRange(flat, ids.size, weight.shape[0]);
  if (bad !== null) throw new ShapeError(`embedding: id ${bad} out of range for ${weight.shape[0]} rows`);
  const rows = selectChecked(weight, 0, flat, ids.size);
  return reshape(rows, [...ids.shape, weight.shape[1]]);
}

/** torch.index_select: the slices of x at positions `index` (1-D i32) along an axis, in that order. */
export function indexSelect(x: Tensor, axis: number, index: Tensor): Tensor {
  const a = normAxis(axis, x.rank);
  if (index.rank > 1) throw new ShapeError(`indexSelect: index must be 1-D, got [${index.shape}]`);
  const idx = indexData(index, 'indexSelect');
  checkRange('indexSelect', idx, index.size, a, x.shape[a]);
  return selectChecked(x, a, idx, index.size);
}

/** indexSelect once the n indices (i32 storage) are known to be in range for axis a. */
function selectChecked(x: Tensor, a: number, idx: StorageHandle, n: number): Tensor {
  const [outer, dim, inner] = around(x.shape, a);
  const shape = [...x.shape];
  shape[a] = n;
  const out = allocate(x.dtype, numel(shape));
  kernelsFor(x.dtype).indexSelect(x.denseStorage(), outer, dim, inner, idx, out);
  const result = new Tensor(out, shape, x.dtype);
  return record(result, 'indexSelect', [x], (g) => {
    // Added straight into fresh zeros: indexAdd(zeros, ...) would copy the zeros once more.
    const grad = allocateZeroed(g.dtype, x.size);
    kernelsFor(g.dtype).indexAdd(grad, outer, dim, inner, idx, g.denseStorage());
    return [new Tensor(grad, x.shape, g.dtype)];
  });
}

/**
 * torch.index_add (out of place): x plus src's slices added at positions `index` along an axis.
 * src has x's shape with that axis replaced by index.length; repeated positions accumulate.
 */
export function indexAdd(x: Tensor, axis: number, index: Tensor, src: Tensor): Tensor {
  const xf = asFloat(x);
  const sf = asFloat(src);
  const a = normAxis(axis, xf.rank);
  if (index.rank > 1) throw new ShapeError(`indexAdd: index must be 1-D, got [${index.shape}]`);
  const idx = indexData(index, 'indexAdd');
  const expected = [...xf.shape];
  expected[a] = index.size;
  if (sf.rank !== xf.rank || sf.shape.some((d, i) => d !== expected[i])) {
    throw new ShapeError(`indexAdd: src must be [${expected}], got [${sf.shape}]`);
  }
  checkRange('indexAdd', idx, index.size, a, xf.shape[a]);
  const [outer, dim, inner] = around(xf.shape, a);
  const dtype = resultDType(xf, sf);
  const out = copyOf(xf, dtype);
  kernelsFor(dtype).indexAdd(out, outer, dim, inner, idx, sf.denseStorage());
  const result = new Tensor(out, xf.shape, dtype);
  return record(result, 'indexAdd', [xf, sf], (g) => [g, sf.requiresGrad ? indexSelect(g, a, index) : null]);
}

/** Shared checks of gather and scatterAdd: i32 index of x's rank, no larger than x off the axis, in range. */
function checkScatterIndex(op: string, x: Tensor, axis: number, index: Tensor): { a: number; idx: StorageHandle } {
  const a = normAxis(axis, x.rank);
  const idx = indexData(index, op);
  if (index.rank !== x.rank) throw new ShapeError(`${op}: index rank ${index.rank} differs from input rank ${x.rank}`);
  if (index.shape.some((d, i) => i !== a && d > x.shape[i])) {
    throw new ShapeError(`${op}: index [${index.shape}] exceeds input [${x.shape}] off axis ${a}`);
  }
  checkRange(op, idx, index.size, a, x.shape[a]);
  return { a, idx };
}

/** torch.gather: out[..i..] = x[..index[..i..]..] along an axis; the result has index's shape. */
export function gather(x: Tensor, axis: number, index: Tensor): Tensor {
  const { a, idx } = checkScatterIndex('gather', x, axis, index);
  const out = allocateZeroed(x.dtype, index.size);
  const src = stridedOperand(x);
  kernelsFor(x.dtype).gather(src.data, src.strides, src.offset, a, idx, index.shape, out);
  const result = new Tensor(out, index.shape, x.dtype);
  return record(result, 'gather', [x], (g) => {
    // Added straight into fresh zeros: scatterAdd(zeros, ...) would copy the zeros once more.
    const grad = allocateZeroed(g.dtype, x.size);
    kernelsFor(g.dtype).scatterAdd(grad, contiguousStrides(x.shape), a, idx, index.shape, g.denseStorage());
    return [new Tensor(grad, x.shape, g.dtype)];
  });
}

/**
 * torch.scatter_add (out of place): x plus src[..i..] added at x[..index[..i..]..] along an axis.
 * Only src's leading index.shape block is used; repeated positions accumulate.
 */
export function scatterAdd(x: Tensor, axis: number, index: Tensor, src: Tensor): Tensor {
  const xf = asFloat(x);
  const { a, idx } = checkScatterIndex('scatterAdd', xf, axis, index);
  if (src.rank !== index.rank || index.shape.some((d, i) => d > src.shape[i])) {
    throw new ShapeError(`scatterAdd: index [${index.shape}] exceeds src [${src.shape}]`);
  }
  // Narrow src to index's shape with views, so its gradient pads back with zeros.
  let used = asFloat(src);
  index.shape.forEach((d, i) => {
    if (d !== used.shape[i]) used = slice(used, i, 0, d);
  });
  const dtype = resultDType(xf, used);
  const out = copyOf(xf, dtype);
  kernelsFor(dtype).scatterAdd(out, contiguousStrides(xf.shape), a, idx, index.shape, used.denseStorage());
  const result = new Tensor(out, xf.shape, dtype);
  return record(result, 'scatterAdd', [xf, used], (g) => [g, used.requiresGrad ? gather(g, a, index) : null]);
}
