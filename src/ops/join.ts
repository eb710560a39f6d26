import { allocateZeroed, kernelsFor } from '../backends/kernels.js';
import { record } from '../engine/autograd.js';
import { ShapeError } from '../engine/errors.js';
import { normAxis, numel, shapesEqual } from '../engine/shape.js';
import { asFloat, resultDType, Tensor } from '../engine/tensor.js';
import { slice, unsqueeze } from './views.js';

/**
 * Join tensors along an existing axis (torch.cat). Shapes must agree off that axis. One shared dtype
 * is kept as is; mixed dtypes are promoted to f32, or f64 if any part is f64.
 */
export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new ShapeError('concat needs at least one tensor');
  const first = tensors[0];
  if (first.rank === 0) throw new ShapeError('concat: zero-dimensional tensors cannot be joined; use stack');
  const a = normAxis(axis, first.rank);
  for (const t of tensors) {
    const agrees = t.rank === first.rank && t.shape.every((d, i) => i === a || d === first.shape[i]);
    if (!agrees) throw new ShapeError(`concat: shape [${t.shape}] does not match [${first.shape}] off axis ${a}`);
  }
  const mixed = tensors.some((t) => t.dtype !== first.dtype);
  const parts = mixed ? tensors.map(asFloat) : [...tensors];
  const dtype = mixed ? resultDType(...parts) : first.dtype;
  const sizes = parts.map((t) => t.shape[a]);
  const shape = [...first.shape];
  shape[a] = sizes.reduce((s, d) => s + d, 0);
  const out = allocateZeroed(dtype, numel(shape));
  kernelsFor(dtype).concat(
    parts.map((t) => t.denseStorage()),
    sizes,
    numel(shape.slice(0, a)),
    numel(shape.slice(a + 1)),
    out,
  );
  const result = new Tensor(out, shape, dtype);
  return record(result, 'concat', parts, (g) => {
    let start = 0;
    return parts.map((t, i) => {
      start += sizes[i];
      return t.requiresGrad ? slice(g, a, start - sizes[i], start) : null;
    });
  });
}

/** Alias of concat, as torch.cat. */
export const cat = concat;

/** Join same-shape tensors along a new axis (torch.stack). */
export function stack(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new ShapeError('stack needs at least one tensor');
  const shape = tensors[0].shape;
  for (const t of tensors) {
    if (!shapesEqual(t.shape, shape)) throw new ShapeError(`stack: shape [${t.shape}] differs from [${shape}]`);
  }
  const a = normAxis(axis, shape.length + 1);
  return concat(
    tensors.map((t) => unsqueeze(t, a)),
    a,
  );
}

/**
 * torch.split: views of x along an axis, either chunks of one size (the last may be smaller) or
 * pieces of the listed sizes, which must add up to the axis length.
 */
export function split(x: Tensor, sizeOrSections: number | readonly number[], axis = 0): Tensor[] {
  const a = normAxis(axis, x.rank);
  const dim = x.shape[a];
  let sizes: number[];
  if (typeof sizeOrSections === 'number') {
    const size = sizeOrSections;
    if (!Number.isInteger(size) || size < 0 || (size === 0 && dim !== 0)) {
      throw new ShapeError(`split: chunk size must be a positive integer, got ${size}`);
    }
    // An empty axis still gives one (empty) piece.
    const count = dim === 0 ? 1 : Math.ceil(dim / size);
    sizes = Array.from({ length: count }, (_, i) => Math.min(size, dim - i * size));
  } else {
    sizes = [...sizeOrSections];
    if (sizes.some((s) => !Number.isInteger(s) || s < 0) || sizes.reduce((s, d) => s + d, 0) !== dim) {
      throw new ShapeError(`split: sections [${sizes}] do not add up to axis ${a} of size ${dim}`);
    }
  }
  let start = 0;
  return sizes.map((s) => {
    start += s;
    return slice(x, a, start - s, start);
  });
}

/**
 * torch.chunk: up to n views of equal size ceil(dim / n) along an axis (the last may be smaller,
 * and fewer than n come back when the sizes run out early). An empty axis gives n empty views.
 */
export function chunk(x: Tensor, n: number, axis = 0): Tensor[] {
  if (!Number.isInteger(n) || n < 1)
    throw new ShapeError(`chunk: number of chunks must be a positive integer, got ${n}`);
  const a = normAxis(axis, x.rank);
  const dim = x.shape[a];
  if (dim === 0) return split(x, new Array<number>(n).fill(0), a);
  return split(x, Math.ceil(dim / n), a);
}
