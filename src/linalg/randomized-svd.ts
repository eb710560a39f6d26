import { randn } from '../engine/create.js';
import type { FloatDType } from '../engine/dtype.js';
import { ShapeError } from '../engine/errors.js';
import { globalRng, Rng } from '../engine/rng.js';
import { asFloat, type Tensor } from '../engine/tensor.js';
import { matmul } from '../ops/matmul.js';
import { transpose } from '../ops/views.js';
import { type OutputOptions, outputDType, readFloat64, toTensor } from './matrix.js';
import { householderQr64 } from './qr.js';
import { type SvdResult, svd64 } from './svd.js';

export interface RandomizedSvdOptions extends OutputOptions {
  /** Extra sketch columns beyond k (default 10); more gives better accuracy for slow spectral decay. */
  oversample?: number;
  /** Power (subspace) iterations (default 2); each sharpens the sketch towards the top singular vectors. */
  powerIters?: number;
  /** Seed for a private generator; ignored when rng is given. Without either, the global generator is used. */
  seed?: number;
  rng?: Rng;
}

/** An orthonormal basis of the columns of y: [rows, cols] (f64 Householder QR), as a tensor of dtype. */
function orthonormalColumns(y: Tensor, dtype: FloatDType): Tensor {
  const [rows, cols] = y.shape;
  return toTensor(householderQr64(readFloat64(y), rows, cols, false).q, [rows, cols], dtype);
}

function checkCount(value: number, name: string, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    throw new ShapeError(`randomizedSvd: ${name} must be an integer >= ${min}, got ${value}`);
  }
}

/**
 * Top-k singular triplets of a: [m, n] by randomised range finding (Halko, Martinsson & Tropp 2011,
 * Alg. 4.4 + 5.1): sketch Y = A·Ω, re-orthonormalise between power iterations, then an exact SVD of
 * the small Qᵀ·A. The large products run in a's float dtype through matmul (the native GEMM for f32);
 * the QRs and the small SVD run in f64. Returns u: [m, k], s: [k] (descending), vt: [k, n].
 */
export function randomizedSvd(a: Tensor, k: number, options: RandomizedSvdOptions = {}): SvdResult<Tensor> {
  if (a.rank !== 2) throw new ShapeError(`randomizedSvd expects a 2-D matrix, got shape [${a.shape}]`);
  const [m, n] = a.shape;
  const { oversample = 10, powerIters = 2 } = options;
  if (!Number.isInteger(k) || k < 1 || k > Math.min(m, n)) {
    throw new ShapeError(
      `randomizedSvd: k must be an integer in [1, ${Math.min(m, n)}] for shape [${a.shape}], got ${k}`,
    );
  }
  checkCount(oversample, 'oversample', 0);
  checkCount(powerIters, 'powerIters', 0);
  const rng = options.rng ?? (options.seed !== undefined ? new Rng(options.seed) : globalRng);
  // Detached, so that none of these products is recorded on the autograd tape.
  const x = asFloat(a).detach();
  const dtype = x.dtype as FloatDType;
  const l = Math.min(k + oversample, m, n);
  const omega = randn([n, l], { dtype, rng });
  let q = orthonormalColumns(matmul(x, omega), dtype); // [m, l]
  for (let i = 0; i < powerIters; i++) {
    const z = orthonormalColumns(matmul(transpose(x), q), dtype); // [n, l]
    q = orthonormalColumns(matmul(x, z), dtype);
  }
  const b = matmul(transpose(q), x); // [l, n]
  const small = svd64(readFloat64(b), l, n, false); // u: [l, l], s: [l], vt: [l, n]
  const ubTop = new Float64Array(l * k); // first k columns of small.u: [l, k]
  for (let i = 0; i < l; i++) ubTop.set(small.u.subarray(i * l, i * l + k), i * k);
  const out = outputDType(options, a);
  return {
    u: matmul(q, toTensor(ubTop, [l, k], dtype)).to(out),
    s: toTensor(small.s.slice(0, k), [k], out),
    vt: toTensor(small.vt.slice(0, k * n), [k, n], out),
  };
}
