import type { FloatDType } from '../engine/dtype.js';
import { NumericalError, ShapeError } from '../engine/errors.js';
import { asFloat, fromFloat, type Tensor } from '../engine/tensor.js';

/**
 * Shared plumbing for the linear-algebra routines: they all compute on row-major Float64Array
 * copies (precision matters more than speed here) and hand results back as tensors.
 */

/** Options every linalg routine takes: the dtype of its results (default: the input's float dtype). */
export interface OutputOptions {
  dtype?: FloatDType;
}

/** A dense row-major f64 matrix. */
export interface Matrix64 {
  data: Float64Array;
  rows: number;
  cols: number;
}

/** A private row-major f64 copy of a tensor's elements (any dtype), so routines may overwrite it. */
export function readFloat64(t: Tensor): Float64Array {
  return Float64Array.from(asFloat(t).floatData());
}

/** A private f64 copy of a 2-D tensor. */
export function readMatrix(t: Tensor, op: string): Matrix64 {
  if (t.rank !== 2) throw new ShapeError(`${op} expects a 2-D matrix, got shape [${t.shape}]`);
  return { data: readFloat64(t), rows: t.shape[0], cols: t.shape[1] };
}

/** Like readMatrix, but the matrix must be square. */
export function readSquare(t: Tensor, op: string): Matrix64 {
  const m = readMatrix(t, op);
  if (m.rows !== m.cols) throw new ShapeError(`${op} expects a square matrix, got shape [${t.shape}]`);
  return m;
}

/** The output dtype: the option if given, else f64 for f64 inputs and f32 otherwise. */
export function outputDType(options: OutputOptions, ...inputs: Tensor[]): FloatDType {
  return options.dtype ?? (inputs.some((t) => t.dtype === 'f64') ? 'f64' : 'f32');
}

/** Wrap f64 results as a tensor of the requested dtype. */
export function toTensor(data: Float64Array, shape: readonly number[], dtype: FloatDType): Tensor {
  return fromFloat(dtype === 'f64' ? data : Float32Array.from(data), shape);
}

/** aᵀ for a: [rows, cols]. */
export function transpose64(a: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const row = i * cols;
    for (let j = 0; j < cols; j++) out[j * rows + i] = a[row + j];
  }
  return out;
}

/** The first `cols` columns of the rows×rows identity. */
export function eye64(rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < Math.min(rows, cols); i++) out[i * cols + i] = 1;
  return out;
}

/** Iterative routines would loop forever on NaN or ±Infinity, so reject them up front. */
export function assertFinite(a: Float64Array, op: string): void {
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i])) throw new NumericalError(`${op}: matrix has a non-finite entry (${a[i]} at ${i})`);
  }
}
