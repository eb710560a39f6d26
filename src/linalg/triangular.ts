import { NumericalError, ShapeError } from '../engine/errors.js';
import type { Tensor } from '../engine/tensor.js';
import { type OutputOptions, outputDType, readFloat64, readSquare, toTensor } from './matrix.js';

export interface SolveTriangularOptions extends OutputOptions {
  /** A is lower triangular (default) or upper; only that triangle is read. */
  lower?: boolean;
  /** Solve Aᵀ·X = B instead of A·X = B. */
  transpose?: boolean;
  /** Take the diagonal of A to be ones (it is not read). */
  unitDiagonal?: boolean;
}

/** Throw if a triangular matrix a: [n, n] has a zero or non-finite diagonal entry. */
export function checkTriangularDiagonal(a: Float64Array, n: number, op: string): void {
  for (let i = 0; i < n; i++) {
    const d = a[i * n + i];
    if (d === 0 || !Number.isFinite(d)) {
      throw new NumericalError(`${op}: triangular matrix is singular (diagonal ${i} is ${d})`);
    }
  }
}

/**
 * Solve op(A)·X = B in place on x: [n, k], where op(A) = A or Aᵀ and a: [n, n] is triangular.
 * Row-oriented substitution, so the inner loops run along the rows of X.
 */
export function solveTriangularInPlace(
  a: Float64Array,
  n: number,
  x: Float64Array,
  k: number,
  lower: boolean,
  transpose: boolean,
  unitDiagonal: boolean,
): void {
  // Element (i, j) of op(A) sits at i·rowStride + j·colStride.
  const rowStride = transpose ? 1 : n;
  const colStride = transpose ? n : 1;
  const forward = lower !== transpose;
  for (let step = 0; step < n; step++) {
    const i = forward ? step : n - 1 - step;
    const xi = i * k;
    const [j0, j1] = forward ? [0, i] : [i + 1, n];
    for (let j = j0; j < j1; j++) {
      const f = a[i * rowStride + j * colStride];
      if (f === 0) continue;
      const xj = j * k;
      for (let c = 0; c < k; c++) x[xi + c] -= f * x[xj + c];
    }
    if (!unitDiagonal) {
      const inv = 1 / a[i * n + i];
      for (let c = 0; c < k; c++) x[xi + c] *= inv;
    }
  }
}

/** L⁻¹ for a lower-triangular l: [n, n] with a non-zero diagonal (the result is lower triangular). */
export function invertLower64(l: Float64Array, n: number): Float64Array {
  const x = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const xi = i * n;
    x[xi + i] = 1;
    // Row i of L·X = I: X[i, :] = (e_i − Σ_{j<i} L[i, j]·X[j, :]) / L[i, i]; X[j, :] is zero past column j.
    for (let j = 0; j < i; j++) {
      const f = l[xi + j];
      if (f === 0) continue;
      const xj = j * n;
      for (let c = 0; c <= j; c++) x[xi + c] -= f * x[xj + c];
    }
    const inv = 1 / l[xi + i];
    for (let c = 0; c <= i; c++) x[xi + c] *= inv;
  }
  return x;
}

/**
 * Solve A·X = B (or Aᵀ·X = B) for triangular A: [n, n]; B: [n] or [n, k] gives X of the same shape.
 * Throws NumericalError when A has a zero diagonal entry (unless unitDiagonal).
 */
export function solveTriangular(a: Tensor, b: Tensor, options: SolveTriangularOptions = {}): Tensor {
  const { lower = true, transpose = false, unitDiagonal = false } = options;
  const A = readSquare(a, 'solveTriangular');
  const n = A.rows;
  if (b.rank !== 1 && b.rank !== 2) throw new ShapeError(`solveTriangular: B must be 1-D or 2-D, got [${b.shape}]`);
  if (b.shape[0] !== n) throw new ShapeError(`solveTriangular: A is [${a.shape}] but B is [${b.shape}]`);
  const x = readFloat64(b);
  if (!unitDiagonal) checkTriangularDiagonal(A.data, n, 'solveTriangular');
  solveTriangularInPlace(A.data, n, x, b.rank === 1 ? 1 : b.shape[1], lower, transpose, unitDiagonal);
  return toTensor(x, b.shape, outputDType(options, a, b));
}
