import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { randn, tensor } from '../../src/engine/create.js';
import { Rng } from '../../src/engine/rng.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { qr } from '../../src/linalg/index.js';
import { add, mul } from '../../src/ops/elementwise.js';
import { matmul } from '../../src/ops/matmul.js';
import { transpose } from '../../src/ops/views.js';
import { assertClose } from '../helpers/gradcheck.js';

/** Shared fixtures of the linalg tests. */

export type Nested = number[][];

/** A random f64 matrix. */
export function randomMatrix(m: number, n: number, seed: number): Tensor {
  return randn([m, n], { dtype: 'f64', rng: new Rng(seed) });
}

/** An f64 tensor from nested rows (golden data). */
export function f64(rows: Nested | number[]): Tensor {
  return tensor(rows, undefined, { dtype: 'f64' });
}

/** The product of a chain of matrices, in f64. */
export function product(...factors: Tensor[]): Tensor {
  return factors.map((t) => t.to('f64')).reduce((acc, t) => matmul(acc, t));
}

/** u · diag(s) · vt. */
export function reconstruct(u: Tensor, s: Tensor, vt: Tensor): Tensor {
  return product(mul(u.to('f64'), s.to('f64')), vt);
}

/** Assert that two matrices of the same shape agree element-wise. */
export function assertMatrixClose(actual: Tensor, expected: Tensor, atol: number): void {
  assert.deepEqual(actual.shape, expected.shape, 'shape differs');
  assertClose(actual.toArray(), expected.toArray(), atol, 0);
}

/** Assert that the columns of q: [m, k] are orthonormal (qᵀ·q = I). */
export function assertOrthonormalColumns(q: Tensor, atol: number): void {
  const gram = product(transpose(q), q).toArray();
  const k = q.shape[1];
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      const expected = i === j ? 1 : 0;
      assert.ok(Math.abs(gram[i * k + j] - expected) <= atol, `qᵀq[${i}, ${j}] = ${gram[i * k + j]}`);
    }
  }
}

/** An m×n f64 matrix with the given singular values (descending), from random orthonormal factors. */
export function withSpectrum(m: number, n: number, values: number[], seed: number): Tensor {
  const k = values.length;
  const u = qr(randomMatrix(m, k, seed)).q;
  const v = qr(randomMatrix(n, k, seed + 1)).q;
  return reconstruct(u, f64(values), transpose(v));
}

export interface Golden {
  cholesky: Record<'a' | 'l' | 'inverse' | 'inverse_cholesky_upper' | 'b' | 'solve_l' | 'solve_lt', Nested>;
  qr: { name: string; a: Nested; q: Nested; r: Nested; complete_r: Nested; complete_q_first: Nested }[];
  svd: { name: string; a: Nested; rank: number; s: number[]; u: Nested; vt: Nested }[];
}

/** NumPy's results from tools/make_linalg_golden.py (read from the source tree, next to dist/). */
export function loadGolden(): Golden {
  return JSON.parse(readFileSync(new URL('../../../test/golden/linalg.json', import.meta.url), 'utf8')) as Golden;
}

/** The n×n identity in f64. */
export function identity(n: number): Tensor {
  return f64(Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))));
}

/** A random symmetric positive-definite n×n f64 matrix, M·Mᵀ + n·I. */
export function randomSpd(n: number, seed: number): Tensor {
  const m = randomMatrix(n, n, seed);
  return add(product(m, transpose(m)), mul(identity(n), n));
}
