import { LitheError } from '../../engine/errors.js';

/** Bad pruning arguments: a sparsity outside [0, 1), an N:M pattern that does not fit, mismatched sizes. */
export class PruneError extends LitheError {}

/** Throws unless 0 ≤ sparsity < 1 (pruning everything is never what a caller means). */
export function checkSparsity(sparsity: number, op: string): void {
  if (!(sparsity >= 0 && sparsity < 1)) throw new PruneError(`${op}: sparsity must be in [0, 1), got ${sparsity}`);
}

/** Throws unless n:m is a valid pattern (0 < n < m) that tiles `cols` input columns. */
export function checkNm(n: number, m: number, cols: number, op: string): void {
  if (!Number.isInteger(n) || !Number.isInteger(m) || n <= 0 || n >= m) {
    throw new PruneError(`${op}: N:M needs integers 0 < N < M, got ${n}:${m}`);
  }
  if (cols % m !== 0) throw new PruneError(`${op}: ${cols} input columns are not a multiple of M = ${m}`);
}
