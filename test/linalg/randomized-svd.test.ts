import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ShapeError } from '../../src/engine/errors.js';
import { Rng } from '../../src/engine/rng.js';
import { randomizedSvd, svd } from '../../src/linalg/index.js';
import { transpose } from '../../src/ops/views.js';
import { assertClose } from '../helpers/gradcheck.js';
import { assertOrthonormalColumns, f64, randomMatrix, withSpectrum } from './linalg-helpers.js';

// A decaying spectrum: what GaLore's gradients and WeLore's weights look like.
const spectrum = Array.from({ length: 120 }, (_, i) => 50 * 0.85 ** i);
const a = withSpectrum(300, 200, spectrum, 21);

describe('randomizedSvd', () => {
  for (const dtype of ['f64', 'f32'] as const) {
    it(`matches the exact top-k singular values on a decaying spectrum (${dtype})`, () => {
      const k = 12;
      const exact = svd(a).s.toArray();
      const { u, s, vt } = randomizedSvd(a.to(dtype), k, { seed: 1 });
      assert.deepEqual([u.shape, s.shape, vt.shape], [[300, k], [k], [k, 200]]);
      assert.equal(s.dtype, dtype);
      s.toArray().forEach((x, i) => {
        assert.ok(Math.abs(x - exact[i]) <= 1e-3 * exact[i], `s[${i}] = ${x} vs ${exact[i]}`);
      });
      assertOrthonormalColumns(u, 1e-5);
      assertOrthonormalColumns(transpose(vt), 1e-5);
    });
  }

  it('is deterministic for a seed or an rng in the same state', () => {
    const x = randomMatrix(60, 40, 3);
    const first = randomizedSvd(x, 5, { seed: 7 });
    const second = randomizedSvd(x, 5, { seed: 7 });
    const third = randomizedSvd(x, 5, { rng: new Rng(7) });
    for (const r of [second, third]) {
      assert.deepEqual(r.u.toArray(), first.u.toArray());
      assert.deepEqual(r.s.toArray(), first.s.toArray());
      assert.deepEqual(r.vt.toArray(), first.vt.toArray());
    }
  });

  it('is exact when the sketch covers the whole matrix', () => {
    const x = randomMatrix(8, 30, 4);
    const { s } = randomizedSvd(x, 3, { oversample: 10, powerIters: 0, seed: 2 });
    const exact = svd(x).s.toArray();
    assertClose(s.toArray(), exact.slice(0, 3), 1e-12 * exact[0], 0);
  });

  it('throws ShapeError for a bad k or options', () => {
    const x = randomMatrix(5, 4, 5);
    assert.throws(() => randomizedSvd(x, 0), ShapeError);
    assert.throws(() => randomizedSvd(x, 5), ShapeError);
    assert.throws(() => randomizedSvd(x, 2, { powerIters: -1 }), ShapeError);
    assert.throws(() => randomizedSvd(f64([1, 2, 3]), 1), ShapeError);
  });
});
