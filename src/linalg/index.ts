// Dense linear algebra on 2-D tensors, computed in f64: Cholesky, triangular solves, QR, SVD.
// The *64 helpers on raw Float64Arrays stay internal to this folder.
export {
  type CholeskyOptions,
  cholesky,
  choleskyInverse,
  choleskyOfInverse,
  inverseSpd,
} from './cholesky.js';
export type { OutputOptions } from './matrix.js';
export { type QrOptions, type QrResult, qr } from './qr.js';
export { type RandomizedSvdOptions, randomizedSvd } from './randomized-svd.js';
export { type SvdOptions, type SvdResult, singularValues, singularValuesMany, svd, svdMany } from './svd.js';
export { type SolveTriangularOptions, solveTriangular } from './triangular.js';
