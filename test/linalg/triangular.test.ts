import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NumericalError, ShapeError } from '../../src/engine/errors.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { solveTriangular } from '../../src/linalg/index.js';
import { transpose } from '../../src/ops/views.js';
import { assertMatrixClose, f64, loadGolden, product, randomMatrix } from './linalg-helpers.js';

const golden = loadGolden().cholesky;

/** A well-conditioned triangular matrix: random off-diagonal entries, diagonal in [2, 3). */
function triangular(n: number, lower: boolean, seed: number): Tensor {
  const v = randomMatrix(n, n, seed).toArray();
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) if (lower ? j > i : j < i) v[i * n + j] = 0;
    v[i * n + i] = 2 + Math.abs(v[i * n + i]) / 10;
  }
  return f64(Array.from({ length: n }, (_, i) => v.slice(i * n, i * n + n)));
}

describe('solveTriangular', () => {
  it('matches numpy on the golden system', () => {
    const l = f64(golden.l);
    const b = f64(golden.b);
    assertMatrixClose(solveTriangular(l, b), f64(golden.solve_l), 1e-9);
    assertMatrixClose(solveTriangular(l, b, { transpose: true }), f64(golden.solve_lt), 1e-9);
    assertMatrixClose(solveTriangular(transpose(l), b, { lower: false }), f64(golden.solve_lt), 1e-9);
  });

  it('has small residuals for every lower/upper/transpose combination', () => {
    const n = 25;
    const b = randomMatrix(n, 4, 9);
    for (const lower of [true, false]) {
      for (const trans of [false, true]) {
        const a = triangular(n, lower, lower ? 1 : 2);
        const x = solveTriangular(a, b, { lower, transpose: trans });
        assertMatrixClose(product(trans ? transpose(a) : a, x), b, 1e-12);
      }
    }
  });

  it('solves a vector right-hand side and keeps its shape', () => {
    const a = triangular(6, true, 3);
    const b = f64([1, 2, 3, 4, 5, 6]);
    const x = solveTriangular(a, b);
    assert.deepEqual(x.shape, [6]);
    assertMatrixClose(product(a, x), b, 1e-13);
  });

  it('ignores the diagonal with unitDiagonal and the other triangle always', () => {
    const a = f64([
      [7, 99],
      [3, 7],
    ]);
    const x = solveTriangular(a, f64([1, 5]), { unitDiagonal: true });
    assert.deepEqual(x.toArray(), [1, 2]);
  });

  it('throws NumericalError for a singular matrix and ShapeError for mismatched shapes', () => {
    const singular = f64([
      [1, 0],
      [2, 0],
    ]);
    assert.throws(() => solveTriangular(singular, f64([1, 1])), NumericalError);
    assert.throws(() => solveTriangular(triangular(3, true, 1), f64([1, 2])), ShapeError);
    assert.throws(() => solveTriangular(f64([[1, 2]]), f64([1])), ShapeError);
  });
});
