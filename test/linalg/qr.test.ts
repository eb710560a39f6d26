import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { zeros } from '../../src/engine/create.js';
import { ShapeError } from '../../src/engine/errors.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { qr } from '../../src/linalg/index.js';
import { slice } from '../../src/ops/views.js';
import {
  assertMatrixClose,
  assertOrthonormalColumns,
  f64,
  loadGolden,
  product,
  randomMatrix,
  withSpectrum,
} from './linalg-helpers.js';

/** R is upper triangular with a non-negative diagonal. */
function assertUpperNonNegative(r: Tensor): void {
  const [rows, cols] = r.shape;
  const v = r.toArray();
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < Math.min(i, cols); j++) assert.equal(v[i * cols + j], 0, `R[${i}, ${j}]`);
    if (i < cols) assert.ok(v[i * cols + i] >= 0, `R[${i}, ${i}] = ${v[i * cols + i]}`);
  }
}

describe('qr', () => {
  it('matches numpy (signs fixed so that diag(R) >= 0) in both modes', () => {
    for (const c of loadGolden().qr) {
      const a = f64(c.a);
      const reduced = qr(a);
      assertMatrixClose(reduced.q, f64(c.q), 1e-9);
      assertMatrixClose(reduced.r, f64(c.r), 1e-9);
      const complete = qr(a, { mode: 'complete' });
      const k = Math.min(...a.shape);
      assertMatrixClose(complete.r, f64(c.complete_r), 1e-9);
      assertMatrixClose(slice(complete.q, 1, 0, k).clone(), f64(c.complete_q_first), 1e-9);
    }
  });

  it('gives A = Q·R with orthonormal Q and upper-triangular R for edge shapes', () => {
    const cases: [string, Tensor][] = [
      ['1x1', randomMatrix(1, 1, 1)],
      ['1xN', randomMatrix(1, 7, 2)],
      ['Nx1', randomMatrix(7, 1, 3)],
      ['tall', randomMatrix(40, 15, 4)],
      ['wide', randomMatrix(15, 40, 5)],
      ['rank-deficient', withSpectrum(20, 12, [3, 2, 1], 6)],
      ['zero', zeros([4, 3], { dtype: 'f64' })],
    ];
    for (const [name, a] of cases) {
      const [m, n] = a.shape;
      const k = Math.min(m, n);
      for (const mode of ['reduced', 'complete'] as const) {
        const { q, r } = qr(a, { mode });
        const qCols = mode === 'complete' ? m : k;
        assert.deepEqual(q.shape, [m, qCols], `${name} ${mode} q`);
        assert.deepEqual(r.shape, [qCols, n], `${name} ${mode} r`);
        assertMatrixClose(product(q, r), a, 1e-12);
        assertOrthonormalColumns(q, 1e-13);
        assertUpperNonNegative(r);
      }
    }
  });

  it('keeps f32 for f32 input and takes a dtype option', () => {
    const a = randomMatrix(5, 3, 7).to('f32');
    assert.equal(qr(a).q.dtype, 'f32');
    assert.equal(qr(a, { dtype: 'f64' }).r.dtype, 'f64');
  });

  it('throws ShapeError for input that is not 2-D', () => {
    assert.throws(() => qr(f64([1, 2, 3])), ShapeError);
  });
});
