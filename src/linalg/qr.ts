import { makeReflector, type Reflector, reflectLeft } from '../backends/ts/householder.js';
import type { Tensor } from '../engine/tensor.js';
import { eye64, type OutputOptions, outputDType, readMatrix, toTensor } from './matrix.js';

export interface QrOptions extends OutputOptions {
  /** 'reduced' (default): q: [m, k], r: [k, n] with k = min(m, n). 'complete': q: [m, m], r: [m, n]. */
  mode?: 'reduced' | 'complete';
}

export interface QrResult<T> {
  q: T;
  r: T;
}

/**
 * Householder QR of a: [m, n] in f64, with signs fixed so that diag(R) >= 0. That makes the factors
 * unique for a full-rank A (LAPACK/NumPy leave the signs to the reflectors, often negative).
 * Returns q: [m, m or k] and r: [m or k, n] with k = min(m, n).
 */
export function householderQr64(a: Float64Array, m: number, n: number, complete: boolean): QrResult<Float64Array> {
  const k = Math.min(m, n);
  const r = a.slice();
  const work = new Float64Array(Math.max(m, n));
  const reflectors: Reflector[] = [];
  for (let j = 0; j < k; j++) {
    const h = makeReflector(r, j * n + j, n, m - j);
    r[j * n + j] = h.beta;
    for (let i = j + 1; i < m; i++) r[i * n + j] = 0;
    reflectLeft(r, n, j, j + 1, n, h, work);
    reflectors.push(h);
  }
  // Q = H_0·H_1·…·H_{k−1}·I, applied right to left; rows >= j of the partial product vanish left of column j.
  const qCols = complete ? m : k;
  const q = eye64(m, qCols);
  for (let j = k - 1; j >= 0; j--) reflectLeft(q, qCols, j, j, qCols, reflectors[j], work);
  for (let j = 0; j < k; j++) {
    if (r[j * n + j] >= 0) continue;
    for (let c = j; c < n; c++) r[j * n + c] = -r[j * n + c];
    for (let i = 0; i < m; i++) q[i * qCols + j] = -q[i * qCols + j];
  }
  return { q, r: complete ? r : r.subarray(0, k * n) };
}

/** QR decomposition A = Q·R with Q orthonormal columns and R upper triangular, diag(R) >= 0. */
export function qr(a: Tensor, options: QrOptions = {}): QrResult<Tensor> {
  const { data, rows: m, cols: n } = readMatrix(a, 'qr');
  const complete = (options.mode ?? 'reduced') === 'complete';
  const { q, r } = householderQr64(data, m, n, complete);
  const qCols = complete ? m : Math.min(m, n);
  const dtype = outputDType(options, a);
  return { q: toTensor(q, [m, qCols], dtype), r: toTensor(r, [qCols, n], dtype) };
}
