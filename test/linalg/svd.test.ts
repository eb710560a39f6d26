import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { zeros } from '../../src/engine/create.js';
import { NumericalError, ShapeError } from '../../src/engine/errors.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { singularValues, singularValuesMany, svd, svdMany } from '../../src/linalg/index.js';
import { sub } from '../../src/ops/elementwise.js';
import { transpose } from '../../src/ops/views.js';
import { assertClose } from '../helpers/gradcheck.js';
import {
  assertMatrixClose,
  assertOrthonormalColumns,
  f64,
  loadGolden,
  randomMatrix,
  reconstruct,
  withSpectrum,
} from './linalg-helpers.js';

/** Flip each singular pair so that the left vector's largest-magnitude entry is positive (as the golden file does). */
function fixSigns(u: Tensor, vt: Tensor, count: number): { u: number[][]; vt: number[][] } {
  const [m, k] = u.shape;
  const n = vt.shape[1];
  const uv = u.toArray();
  const vv = vt.toArray();
  const uCols: number[][] = [];
  const vRows: number[][] = [];
  for (let i = 0; i < count; i++) {
    const col = Array.from({ length: m }, (_, r) => uv[r * k + i]);
    const big = col.reduce((best, x) => (Math.abs(x) > Math.abs(best) ? x : best), 0);
    const sign = big < 0 ? -1 : 1;
    uCols.push(col.map((x) => sign * x));
    vRows.push(Array.from(vv.slice(i * n, i * n + n), (x) => sign * x));
  }
  return { u: uCols, vt: vRows };
}

function assertValidSvd(a: Tensor, fullMatrices: boolean, atol: number): void {
  const [m, n] = a.shape;
  const k = Math.min(m, n);
  const { u, s, vt } = svd(a, { fullMatrices });
  assert.deepEqual(u.shape, [m, fullMatrices ? m : k]);
  assert.deepEqual(s.shape, [k]);
  assert.deepEqual(vt.shape, [fullMatrices ? n : k, n]);
  const values = s.toArray();
  values.forEach((x, i) => {
    assert.ok(x >= 0, `s[${i}] = ${x} is negative`);
    if (i > 0) assert.ok(x <= values[i - 1], `s is not descending at ${i}`);
  });
  const thin = fullMatrices ? { u: u.toArray(), vt: vt.toArray() } : null;
  // Reconstruct from the first k singular triplets (the rest of a full u / vt meets zero singular values).
  const uk = thin ? f64(Array.from({ length: m }, (_, r) => thin.u.slice(r * m, r * m + k))) : u;
  const vk = thin ? f64(Array.from({ length: k }, (_, r) => thin.vt.slice(r * n, r * n + n))) : vt;
  assertMatrixClose(reconstruct(uk, s, vk), a, atol);
  assertOrthonormalColumns(u, atol);
  assertOrthonormalColumns(transpose(vt), atol);
  assertClose(singularValues(a).toArray(), values, atol, 0);
}

describe('svd', () => {
  it('matches numpy: singular values and sign-fixed singular vectors', () => {
    for (const c of loadGolden().svd) {
      const { u, s, vt } = svd(f64(c.a));
      assertClose(s.toArray(), c.s, 1e-9, 0);
      assertClose(singularValues(f64(c.a)).toArray(), c.s, 1e-9, 0);
      const fixed = fixSigns(u, vt, c.rank);
      const expectedU = fixSigns(f64(c.u), f64(c.vt), c.rank);
      assertClose(fixed.u.flat(), expectedU.u.flat(), 1e-9, 0);
      assertClose(fixed.vt.flat(), expectedU.vt.flat(), 1e-9, 0);
    }
  });

  it('is a valid decomposition for edge shapes, thin and full', () => {
    const cases: [string, Tensor][] = [
      ['1x1', randomMatrix(1, 1, 1)],
      ['1xN', randomMatrix(1, 9, 2)],
      ['Nx1', randomMatrix(9, 1, 3)],
      ['tall', randomMatrix(45, 20, 4)],
      ['wide', randomMatrix(20, 45, 5)],
      ['square', randomMatrix(30, 30, 6)],
      ['rank-deficient', withSpectrum(25, 18, [5, 4, 1e-3], 7)],
      ['zero', zeros([5, 3], { dtype: 'f64' })],
    ];
    for (const [name, a] of cases) {
      for (const full of [false, true]) {
        assert.doesNotThrow(() => assertValidSvd(a, full, 1e-12), `${name} full=${full}`);
      }
    }
  });

  it('recovers a known spectrum to ~1e-12 relative, including exact zeros', () => {
    const values = Array.from({ length: 60 }, (_, i) => 10 * 0.8 ** i);
    const a = withSpectrum(120, 80, values, 11);
    const s = svd(a).s.toArray();
    for (let i = 0; i < values.length; i++) {
      assert.ok(
        Math.abs(s[i] - values[i]) <= 1e-12 * values[0] + 1e-10 * values[i],
        `s[${i}] = ${s[i]} vs ${values[i]}`,
      );
    }
    for (let i = values.length; i < 80; i++) assert.ok(s[i] < 1e-13 * values[0], `s[${i}] = ${s[i]} should be ~0`);
  });

  it('is accurate on rank-deficient and ill-conditioned matrices, tall and wide, with and without QR first', () => {
    const frobenius = (t: Tensor) => Math.hypot(...t.toArray());
    // 90x30 and 30x90 take the QR-first path (rows >= 1.6 cols), 50x40 and 40x50 do not.
    const shapes: [number, number][] = [
      [90, 30],
      [30, 90],
      [50, 40],
      [40, 50],
      [64, 64],
    ];
    for (const [m, n] of shapes) {
      const k = Math.min(m, n);
      const spectra: [string, number[]][] = [
        ['rank-deficient', Array.from({ length: Math.floor(k / 2) }, (_, i) => 3 - i / k)],
        ['ill-conditioned', Array.from({ length: k }, (_, i) => 10 ** ((-12 * i) / (k - 1)))],
      ];
      for (const [name, values] of spectra) {
        const label = `${name} ${m}x${n}`;
        const a = withSpectrum(m, n, values, m + n);
        const { u, s, vt } = svd(a);
        const want = [...values, ...Array(k - values.length).fill(0)];
        const got = s.toArray();
        for (let i = 0; i < k; i++) {
          assert.ok(Math.abs(got[i] - want[i]) <= 1e-12 * want[0], `${label}: s[${i}] = ${got[i]} vs ${want[i]}`);
        }
        assertClose(singularValues(a).toArray(), got, 1e-12 * want[0], 0);
        const residual = frobenius(sub(reconstruct(u, s, vt), a)) / frobenius(a);
        assert.ok(residual <= 1e-12, `${label}: ‖A − U·S·Vᵀ‖ / ‖A‖ = ${residual}`);
        assertOrthonormalColumns(u, 1e-12);
        assertOrthonormalColumns(transpose(vt), 1e-12);
      }
    }
  });

  it('svdMany and singularValuesMany give exactly what the single forms give', () => {
    const as = [randomMatrix(40, 12, 21), randomMatrix(12, 40, 22), randomMatrix(30, 30, 23), randomMatrix(1, 1, 24)];
    const many = svdMany(as, { fullMatrices: true });
    const values = singularValuesMany(as);
    as.forEach((a, i) => {
      const one = svd(a, { fullMatrices: true });
      assert.deepEqual(many[i].u.toArray(), one.u.toArray());
      assert.deepEqual(many[i].s.toArray(), one.s.toArray());
      assert.deepEqual(many[i].vt.toArray(), one.vt.toArray());
      assert.deepEqual(values[i].toArray(), singularValues(a).toArray());
    });
    assert.deepEqual(svdMany([]), []);
  });

  it('handles repeated singular values', () => {
    const a = withSpectrum(12, 10, [2, 2, 2, 1, 1], 13);
    assertValidSvd(a, false, 1e-13);
    assertClose(svd(a).s.toArray().slice(0, 5), [2, 2, 2, 1, 1], 1e-13, 0);
  });

  it('computes in f64 but returns the input dtype', () => {
    const a = randomMatrix(6, 4, 8).to('f32');
    const { u, s, vt } = svd(a);
    assert.deepEqual([u.dtype, s.dtype, vt.dtype], ['f32', 'f32', 'f32']);
    assert.equal(svd(a, { dtype: 'f64' }).s.dtype, 'f64');
  });

  it('throws NumericalError on non-finite input and ShapeError on non-2-D input', () => {
    assert.throws(() => svd(f64([[1, Number.NaN]])), NumericalError);
    assert.throws(() => singularValues(f64([[Number.POSITIVE_INFINITY]])), NumericalError);
    assert.throws(() => svd(f64([1, 2, 3])), ShapeError);
    assert.throws(() => svdMany([randomMatrix(3, 3, 1), f64([[Number.NaN]])]), NumericalError);
    assert.throws(() => singularValuesMany([f64([1, 2])]), ShapeError);
  });
});
