import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tensor } from '../../src/engine/create.js';
import { NumericalError, ShapeError } from '../../src/engine/errors.js';
import { cholesky, choleskyInverse, choleskyOfInverse, inverseSpd } from '../../src/linalg/index.js';
import { transpose } from '../../src/ops/views.js';
import { assertMatrixClose, f64, identity, loadGolden, product, randomSpd } from './linalg-helpers.js';

const golden = loadGolden().cholesky;

/** Assert every entry strictly above (or below) the diagonal is zero. */
function assertTriangular(t: ReturnType<typeof f64>, lower: boolean): void {
  const n = t.shape[0];
  const v = t.toArray();
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) if (lower ? j > i : j < i) assert.equal(v[i * n + j], 0, `entry [${i}, ${j}]`);
  }
}

describe('cholesky', () => {
  it('matches numpy on the golden SPD matrix', () => {
    assertMatrixClose(cholesky(f64(golden.a)), f64(golden.l), 1e-9);
  });

  it('reconstructs A = L·Lᵀ and A = Uᵀ·U, with triangular factors', () => {
    const a = randomSpd(40, 1);
    const l = cholesky(a);
    const u = cholesky(a, { upper: true });
    assertTriangular(l, true);
    assertTriangular(u, false);
    assertMatrixClose(product(l, transpose(l)), a, 1e-10);
    assertMatrixClose(u, transpose(l).clone(), 0);
  });

  it('reads only the lower triangle', () => {
    const a = f64([
      [4, 999],
      [2, 5],
    ]);
    assertMatrixClose(
      cholesky(a),
      f64([
        [2, 0],
        [1, 2],
      ]),
      1e-15,
    );
  });

  it('handles 1x1 and keeps or sets the dtype', () => {
    const l = cholesky(tensor([[9]]));
    assert.equal(l.dtype, 'f32');
    assert.deepEqual(l.toArray(), [3]);
    assert.equal(cholesky(tensor([[9]]), { dtype: 'f64' }).dtype, 'f64');
  });

  it('throws NumericalError naming the pivot for a matrix that is not positive definite', () => {
    const indefinite = f64([
      [1, 2, 0],
      [2, 1, 0],
      [0, 0, 1],
    ]);
    assert.throws(
      () => cholesky(indefinite),
      (e: unknown) => e instanceof NumericalError && /pivot 1\b/.test(e.message),
    );
    assert.throws(() => cholesky(f64([[Number.NaN]])), NumericalError);
  });

  it('throws ShapeError for non-square or non-2-D input', () => {
    assert.throws(() => cholesky(f64([[1, 2, 3]])), ShapeError);
    assert.throws(() => cholesky(f64([1, 2])), ShapeError);
  });
});

describe('choleskyInverse / inverseSpd / choleskyOfInverse', () => {
  it('match numpy on the golden SPD matrix', () => {
    const a = f64(golden.a);
    assertMatrixClose(choleskyInverse(cholesky(a)), f64(golden.inverse), 1e-9);
    assertMatrixClose(choleskyInverse(cholesky(a, { upper: true }), { upper: true }), f64(golden.inverse), 1e-9);
    assertMatrixClose(inverseSpd(a), f64(golden.inverse), 1e-9);
    const hinv = f64(golden.inverse_cholesky_upper);
    assertMatrixClose(choleskyOfInverse(a), hinv, 1e-9);
    // SparseGPT's sequence, spelled out with the public pieces.
    assertMatrixClose(cholesky(choleskyInverse(cholesky(a)), { upper: true }), hinv, 1e-9);
  });

  it('give A⁻¹·A = I and a symmetric inverse', () => {
    const a = randomSpd(50, 2);
    const inv = inverseSpd(a);
    assertMatrixClose(product(inv, a), identity(50), 1e-10);
    assertMatrixClose(inv, transpose(inv).clone(), 0);
  });

  it('choleskyOfInverse gives Uᵀ·U = A⁻¹ (upper) and L·Lᵀ = A⁻¹ (lower)', () => {
    const a = randomSpd(30, 3);
    const inv = inverseSpd(a);
    const u = choleskyOfInverse(a);
    const l = choleskyOfInverse(a, { upper: false });
    assertMatrixClose(product(transpose(u), u), inv, 1e-12);
    assertMatrixClose(product(l, transpose(l)), inv, 1e-12);
  });

  it('throws NumericalError for a factor with a zero diagonal', () => {
    assert.throws(
      () =>
        choleskyInverse(
          f64([
            [1, 0],
            [1, 0],
          ]),
        ),
      NumericalError,
    );
  });
});
