import { NumericalError } from '../engine/errors.js';
import type { Tensor } from '../engine/tensor.js';
import { type OutputOptions, outputDType, readSquare, toTensor, transpose64 } from './matrix.js';
import { checkTriangularDiagonal, invertLower64 } from './triangular.js';

export interface CholeskyOptions extends OutputOptions {
  /** Return the upper factor U (A = Uᵀ·U) instead of the lower L (A = L·Lᵀ). */
  upper?: boolean;
}

/** Lower Cholesky factor of a: [n, n], reading only its lower triangle (as LAPACK does). */
export function choleskyLower64(a: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    const rj = j * n;
    let pivot = a[rj + j];
    for (let k = 0; k < j; k++) pivot -= l[rj + k] * l[rj + k];
    if (!(pivot > 0)) {
      throw new NumericalError(`cholesky: matrix is not positive definite (pivot ${j} is ${pivot})`);
    }
    const ljj = Math.sqrt(pivot);
    l[rj + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      const ri = i * n;
      let s = a[ri + j];
      for (let k = 0; k < j; k++) s -= l[ri + k] * l[rj + k];
      l[ri + j] = s / ljj;
    }
  }
  return l;
}

/** A⁻¹ = L⁻ᵀ·L⁻¹ from the lower factor l: [n, n]; the result is exactly symmetric. */
export function choleskyInverse64(l: Float64Array, n: number): Float64Array {
  checkTriangularDiagonal(l, n, 'choleskyInverse');
  const li = invertLower64(l, n);
  const out = new Float64Array(n * n);
  // out[i, j] = Σ_{k >= max(i, j)} li[k, i]·li[k, j]; fill the lower triangle, then mirror it.
  for (let k = 0; k < n; k++) {
    const rk = k * n;
    for (let i = 0; i <= k; i++) {
      const f = li[rk + i];
      if (f === 0) continue;
      const ri = i * n;
      for (let j = 0; j <= i; j++) out[ri + j] += f * li[rk + j];
    }
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) out[j * n + i] = out[i * n + j];
  return out;
}

function factorResult(lower: Float64Array, n: number, upper: boolean, options: OutputOptions, input: Tensor): Tensor {
  return toTensor(upper ? transpose64(lower, n, n) : lower, [n, n], outputDType(options, input));
}

/**
 * Cholesky factor of a symmetric positive-definite a: [n, n], computed in f64.
 * Only the lower triangle of a is read. Throws NumericalError naming the failing pivot.
 */
export function cholesky(a: Tensor, options: CholeskyOptions = {}): Tensor {
  const { data, rows: n } = readSquare(a, 'cholesky');
  return factorResult(choleskyLower64(data, n), n, options.upper ?? false, options, a);
}

/** A⁻¹ from the Cholesky factor of A (lower by default; set upper when passing U with A = Uᵀ·U). */
export function choleskyInverse(factor: Tensor, options: CholeskyOptions = {}): Tensor {
  const { data, rows: n } = readSquare(factor, 'choleskyInverse');
  const lower = options.upper ? transpose64(data, n, n) : data;
  return toTensor(choleskyInverse64(lower, n), [n, n], outputDType(options, factor));
}

/** Inverse of a symmetric positive-definite a: [n, n] via its Cholesky factor. */
export function inverseSpd(a: Tensor, options: OutputOptions = {}): Tensor {
  const { data, rows: n } = readSquare(a, 'inverseSpd');
  return toTensor(choleskyInverse64(choleskyLower64(data, n), n), [n, n], outputDType(options, a));
}

/**
 * Cholesky factor of A⁻¹ for SPD a: [n, n], upper by default (A⁻¹ = Uᵀ·U): SparseGPT's Hinv.
 * Same as cholesky(choleskyInverse(cholesky(a)), {upper: true}) but without rounding to the
 * output dtype in between.
 */
export function choleskyOfInverse(a: Tensor, options: CholeskyOptions = {}): Tensor {
  const { data, rows: n } = readSquare(a, 'choleskyOfInverse');
  // With J the index reversal, J·A·J = L·Lᵀ gives A⁻¹ = Uᵀ·U for the upper U = J·L⁻¹·J. Reversing
  // both indices of a row-major matrix reverses its flat array, so this costs one Cholesky and one
  // triangular inverse instead of two Choleskys and an inverse. Aᵀ is reversed so that, like
  // cholesky(), only the lower triangle of a is read.
  const upper = invertLower64(choleskyLower64(transpose64(data, n, n).reverse(), n), n).reverse();
  const factor = (options.upper ?? true) ? upper : transpose64(upper, n, n);
  return toTensor(factor, [n, n], outputDType(options, a));
}
