import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BINARY_OPS, loadNative, UNARY_OPS } from '../../src/backends/native/loader.js';
import { nativeKernelTable, tsKernels } from '../../src/backends/registry.js';
import { Rng } from '../../src/engine/rng.js';
import { assertClose } from '../helpers/gradcheck.js';

const native = nativeKernelTable();
const skip = native ? false : 'native addon not available';

function randomF32(n: number, seed: number, scale = 3): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = scale * rng.normal();
  return out;
}

describe('native elementwise and row kernels agree with their TypeScript twins', { skip }, () => {
  const k = native as NonNullable<typeof native>;
  it('every unary op, including extremes and NaN', () => {
    const x = randomF32(70001, 1, 4);
    x.set([
      0,
      -0,
      1e-30,
      -1e-30,
      88,
      -88,
      100,
      -100,
      1e4,
      -1e4,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
    ]);
    for (const op of UNARY_OPS) {
      const input = op === 'log' || op === 'sqrt' || op === 'rsqrt' ? x.map(Math.abs) : x;
      const a = new Float32Array(x.length);
      const b = new Float32Array(x.length);
      k.unary(op, input, a);
      tsKernels.unary(op, input, b);
      for (let i = 0; i < a.length; i++) {
        const close =
          a[i] === b[i] ||
          Math.abs(a[i] - b[i]) <= 1e-6 + 2e-6 * Math.abs(b[i]) ||
          (Number.isNaN(a[i]) && Number.isNaN(b[i]));
        // Below 1e-38 the native exp flushes to 0 where the TS twin keeps a subnormal.
        if (!close && !(Math.abs(a[i]) < 1e-37 && Math.abs(b[i]) < 1e-37)) {
          assert.fail(`${op}(${input[i]}): native ${a[i]} vs ts ${b[i]}`);
        }
      }
    }
  });
  it('activation gradients', () => {
    const x = randomF32(50001, 11, 4);
    const g = randomF32(50001, 12, 1);
    for (const op of ['relu', 'silu', 'geluTanh', 'geluErf', 'softplus', 'logSigmoid'] as const) {
      const a = new Float32Array(x.length);
      const b = new Float32Array(x.length);
      k.unaryGrad(op, x, g, a);
      tsKernels.unaryGrad(op, x, g, b);
      assertClose(a, b, 2e-6, 2e-5);
    }
  });
  it('binary ops on flat, scalar-broadcast and general layouts', () => {
    const n = 40000;
    const a = randomF32(n + 5, 2);
    const b = randomF32(n + 5, 3);
    for (const op of BINARY_OPS) {
      const layouts: [number[], number[], number[], number, number][] = [
        [[n], [1], [1], 3, 5],
        [[n], [1], [0], 0, 2],
        [[n], [0], [1], 4, 0],
        [[200, 200], [1, 200], [200, 1], 0, 0],
      ];
      for (const [shape, sa, sb, oa, ob] of layouts) {
        const x = new Float32Array(n);
        const y = new Float32Array(n);
        k.binary(op, x, shape, { data: a, strides: sa, offset: oa }, { data: b, strides: sb, offset: ob });
        tsKernels.binary(op, y, shape, { data: a, strides: sa, offset: oa }, { data: b, strides: sb, offset: ob });
        assertClose(x, y, 0, 1e-7);
      }
    }
  });
  it('softmax and log-softmax rows, with huge and -inf logits', () => {
    for (const log of [false, true]) {
      const x = randomF32(37 * 257, 4, 5);
      x[3] = 1e4;
      x[300] = Number.NEGATIVE_INFINITY;
      const a = new Float32Array(x.length);
      const b = new Float32Array(x.length);
      k.softmax(x, a, 37, 257, 1, log);
      tsKernels.softmax(x, b, 37, 257, 1, log);
      assertClose(a, b, 1e-6, 1e-5);
    }
  });
  it('banded softmax (causal and sliding window, including empty rows)', () => {
    const rows = 48;
    const len = 40;
    const lo = new Int32Array(rows);
    const hi = new Int32Array(rows);
    for (let r = 0; r < rows; r++) {
      lo[r] = Math.max(0, r - 8 - 10);
      hi[r] = r - 8;
    }
    const a = randomF32(7 + rows * len, 5);
    const b = a.slice();
    k.softmaxBands(a, 7, rows, len, lo, hi);
    tsKernels.softmaxBands(b, 7, rows, len, lo, hi);
    assertClose(a, b, 1e-7, 1e-5);
  });
  it('rmsNorm forward', () => {
    const rows = 33;
    const dim = 384;
    const x = randomF32(rows * dim, 6);
    const w = randomF32(dim, 7);
    const [a, b] = [new Float32Array(rows * dim), new Float32Array(rows * dim)];
    const [ra, rb] = [new Float64Array(rows), new Float64Array(rows)];
    k.rmsNormForward(x, w, a, ra, rows, dim, 1e-5);
    tsKernels.rmsNormForward(x, w, b, rb, rows, dim, 1e-5);
    assertClose(a, b, 1e-6, 1e-6);
    assertClose(ra, rb, 0, 1e-7);
  });
  it('cross entropy rows with ignore index and label smoothing', () => {
    const rows = 50;
    const classes = 1003;
    const logits = randomF32(rows * classes, 8, 4);
    const targets = new Int32Array(rows).map((_, i) => (i % 7 === 0 ? -100 : (i * 37) % classes));
    for (const smoothing of [0, 0.1]) {
      const spec = { targets, rows, classes, ignoreIndex: -100, smoothing };
      const [a, b] = [new Float32Array(rows), new Float32Array(rows)];
      const sa = { max: new Float64Array(rows), logSum: new Float64Array(rows) };
      const sb = { max: new Float64Array(rows), logSum: new Float64Array(rows) };
      assert.equal(k.crossEntropyForward(logits, spec, a, sa), tsKernels.crossEntropyForward(logits, spec, b, sb));
      assertClose(a, b, 1e-5, 1e-6);
      assertClose(sa.logSum, sb.logSum, 1e-6, 1e-6);
      const rowGrad = new Float64Array(rows).map((_, i) => (i % 3) - 1);
      const [da, db] = [new Float32Array(rows * classes), new Float32Array(rows * classes)];
      k.crossEntropyBackward(logits, spec, sb, rowGrad, da);
      tsKernels.crossEntropyBackward(logits, spec, sb, rowGrad, db);
      assertClose(da, db, 1e-7, 1e-5);
    }
  });
  it('rmsNorm backward, with and without each output', () => {
    const rows = 37;
    const dim = 384;
    const x = randomF32(rows * dim, 9);
    const w = randomF32(dim, 10);
    const g = randomF32(rows * dim, 11);
    const rstd = new Float64Array(rows).map((_, i) => 0.5 + i / rows);
    const [a, b] = [new Float32Array(rows * dim), new Float32Array(rows * dim)];
    const [wa, wb] = [new Float64Array(dim).fill(0.25), new Float64Array(dim).fill(0.25)];
    k.rmsNormBackward(x, w, rstd, g, a, wa, rows, dim);
    tsKernels.rmsNormBackward(x, w, rstd, g, b, wb, rows, dim);
    assertClose(a, b, 1e-5, 1e-6);
    assertClose(wa, wb, 1e-9, 1e-12);
    const c = new Float32Array(rows * dim);
    k.rmsNormBackward(x, w, rstd, g, c, null, rows, dim);
    assertClose(c, b, 1e-5, 1e-6);
    const wc = new Float64Array(dim).fill(0.25);
    k.rmsNormBackward(x, w, rstd, g, null, wc, rows, dim);
    assertClose(wc, wb, 1e-9, 1e-12);
  });
  it('softmax backward rows, in place as attention uses it', () => {
    const rows = 29;
    const len = 300;
    const y = new Float32Array(rows * len);
    tsKernels.softmax(randomF32(rows * len, 12), y, rows, len, 1, false);
    const g = randomF32(rows * len, 13);
    const a = g.slice();
    const b = new Float32Array(rows * len);
    k.softmaxBackward(y, a, a, rows, len, 1, false);
    tsKernels.softmaxBackward(y, g, b, rows, len, 1, false);
    assertClose(a, b, 1e-6, 1e-5);
  });
  it('rope forward and transpose over broadcast tables', () => {
    const [heads, t, dim] = [3, 11, 16];
    const rows = 2 * heads * t;
    const cosData = randomF32(t * dim, 14, 1);
    const sinData = randomF32(t * dim, 15, 1);
    // Row r of x [2, heads, t, dim] reads table row r mod t.
    const tableRows = Int32Array.from({ length: rows }, (_, r) => (r % t) * dim);
    const cos = { data: cosData, rows: tableRows, step: 1 };
    const sin = { data: sinData, rows: tableRows, step: 1 };
    const src = randomF32(rows * dim, 16);
    for (const transpose of [false, true]) {
      const [a, b] = [new Float32Array(rows * dim), new Float32Array(rows * dim)];
      k.rope(src, a, dim, cos, sin, transpose);
      tsKernels.rope(src, b, dim, cos, sin, transpose);
      assertClose(a, b, 1e-6, 1e-6);
    }
  });
  it('strided copies: transposes, broadcasts, offsets and negative strides', () => {
    const src = randomF32(5000, 17);
    const cases: [number[], number[], number][] = [
      [[4, 6, 8, 16], [768, 16, 96, 1], 3],
      [[7, 9], [1, 7], 0],
      [[3, 4, 5], [0, 5, 1], 10],
      [[6, 10], [-10, 1], 60],
      [[2, 3, 4], [12, 4, -1], 3],
      [[], [], 42],
      [[3, 0, 2], [2, 2, 1], 0],
    ];
    for (const [shape, strides, offset] of cases) {
      const a = k.copyStrided(src, shape, strides, offset);
      const b = tsKernels.copyStrided(src, shape, strides, offset);
      assert.deepEqual(a, b, `shape [${shape}] strides [${strides}]`);
    }
  });
  it('Adam moments and update, bit for bit (with and without AMSGrad)', () => {
    const n = 100003;
    const grad = randomF32(n, 18, 0.01);
    grad.set([0, -0, 1e-30, 1e10, -1e10]);
    const fr = Math.fround;
    const s = {
      weight1: fr(0.1),
      decay2: fr(0.95),
      weight2: fr(0.05),
      correction2: fr(Math.sqrt(1 - 0.95 ** 3)),
      eps: fr(1e-8),
      negStepSize: fr(-3e-3 / (1 - 0.9 ** 3)),
    };
    for (const amsgrad of [false, true]) {
      const moments = () => [randomF32(n, 19, 0.01), randomF32(n, 20, 0.01).map((x) => x * x)];
      const [ma, va] = moments();
      const [mb, vb] = moments();
      const [xa, xb] = amsgrad ? [va.map((x) => x * 1.5), va.map((x) => x * 1.5)] : [null, null];
      const [da, db] = [new Float32Array(n), new Float32Array(n)];
      k.adamDelta(grad, ma, va, xa, da, s);
      tsKernels.adamDelta(grad, mb, vb, xb, db, s);
      assert.deepEqual([da, ma, va, xa], [db, mb, vb, xb]);
    }
  });
  it('the raw addon throws instead of reading past an array', () => {
    const addon = loadNative().addon as NonNullable<ReturnType<typeof loadNative>['addon']>;
    const src = new Float32Array(10);
    const f64 = (...v: number[]) => Float64Array.from(v);
    assert.throws(() => addon.copyStrided(src, new Float32Array(12), f64(3, 4), f64(4, 1), 0), RangeError);
    assert.throws(() => addon.copyStrided(src, new Float32Array(4), f64(2, 2), f64(-2, 1), 1), RangeError);
    assert.throws(() => addon.copyStrided(src, new Float32Array(2), f64(2), f64(1, 1), 0), RangeError);
    const rows = Int32Array.of(0, 8);
    assert.throws(() => addon.rope(src, src, 2, 4, src, rows, 1, src, rows, 1, false), RangeError);
    assert.throws(() => addon.rmsNormBackward(src, src, new Float64Array(2), src, src, null, 2, 6), RangeError);
    assert.throws(() => addon.softmaxBackwardRows(src, src, new Float32Array(4), 2, 5), RangeError);
  });
});
