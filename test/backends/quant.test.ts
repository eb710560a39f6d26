import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadNative } from '../../src/backends/native/loader.js';
import { nativeKernelTable, tsKernels } from '../../src/backends/registry.js';
import { randn } from '../../src/engine/create.js';
import { QUANT_FORMATS, type QuantFormat } from '../../src/engine/quant/formats.js';
import { dequantize, type QuantizedTensor, quantize } from '../../src/engine/quant/quantized-tensor.js';
import { Rng } from '../../src/engine/rng.js';

const native = nativeKernelTable();

function randomF32(n: number, seed: number): Float32Array {
  return randn([n], { rng: new Rng(seed) }).floatData() as Float32Array;
}

/** y by the reference f32 GEMM on the whole dequantised weight. */
function denseGemm(transW: boolean, m: number, x: Float32Array, q: QuantizedTensor): Float32Array {
  const w = dequantize(q).floatData();
  const { rows, cols } = q;
  const n = transW ? rows : cols;
  const k = transW ? cols : rows;
  const y = new Float32Array(m * n);
  tsKernels.gemm({
    transA: false,
    transB: transW,
    m,
    n,
    k,
    alpha: 1,
    beta: 0,
    a: x,
    aOffset: 0,
    lda: k,
    strideA: 0,
    b: w,
    bOffset: 0,
    ldb: cols,
    strideB: 0,
    c: y,
    cOffset: 0,
    ldc: n,
    strideC: 0,
    batch: 1,
  });
  return y;
}

/** |a − b| within f32 rounding of a k-term sum: 1e-5 of Σ|x||ŵ| per element, bounded by the row norms. */
function assertAgree(a: Float32Array, b: Float32Array, k: number, what: string): void {
  assert.equal(a.length, b.length);
  const tol = 2e-6 * Math.sqrt(k) * 4 + 1e-6;
  for (let i = 0; i < a.length; i++) {
    assert.ok(Math.abs(a[i] - b[i]) <= tol * Math.max(1, Math.abs(b[i])), `${what} [${i}]: ${a[i]} vs ${b[i]}`);
  }
}

const CASES: { m: number; rows: number; cols: number; groupSize: number }[] = [
  { m: 1, rows: 37, cols: 301, groupSize: 64 },
  { m: 3, rows: 50, cols: 129, groupSize: 7 },
  { m: 7, rows: 19, cols: 512, groupSize: 256 },
  { m: 8, rows: 33, cols: 301, groupSize: 64 },
  { m: 64, rows: 70, cols: 97, groupSize: 32 },
  { m: 5, rows: 1, cols: 1, groupSize: 1 },
  { m: 2, rows: 4, cols: 9, groupSize: 1 },
];

describe('quantised GEMM: the TypeScript reference', () => {
  it('x · Wᵀ equals the reference GEMM on the dequantised weight bit for bit', () => {
    for (const format of QUANT_FORMATS) {
      for (const { m, rows, cols, groupSize } of CASES) {
        const q = quantize(randn([rows, cols], { rng: new Rng(rows) }), format, { groupSize });
        const x = randomF32(m * cols, m);
        const y = new Float32Array(m * rows);
        tsKernels.quantGemm({ transW: true, m, x, w: q, y });
        assert.deepEqual(y, denseGemm(true, m, x, q), `${format} ${m}x${rows}x${cols}`);
      }
    }
  });
  it('x · W (the input gradient) agrees with it to float rounding, over tiles of rows', () => {
    for (const format of QUANT_FORMATS) {
      // 40 000 rows of 1 column: several tiles.
      for (const { m, rows, cols, groupSize } of [...CASES, { m: 2, rows: 40000, cols: 1, groupSize: 1 }]) {
        const q = quantize(randn([rows, cols], { rng: new Rng(cols) }), format, { groupSize });
        const x = randomF32(m * rows, m + 1);
        const y = new Float32Array(m * cols).fill(Number.NaN);
        tsKernels.quantGemm({ transW: false, m, x, w: q, y });
        assertAgree(y, denseGemm(false, m, x, q), rows, `${format} ${m}x${rows}x${cols}`);
      }
    }
  });
  it('f64 activations', () => {
    const q = quantize(randn([6, 10], { rng: new Rng(1) }), 'int4', { groupSize: 4 });
    const x = new Float64Array(randomF32(20, 2));
    const y = new Float64Array(12);
    tsKernels.quantGemm({ transW: true, m: 2, x, w: q, y });
    const w = dequantize(q).toArray();
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < 6; j++) {
        let s = 0;
        for (let p = 0; p < 10; p++) s += x[i * 10 + p] * w[j * 10 + p];
        assert.ok(Math.abs(y[i * 6 + j] - s) < 1e-12);
      }
    }
  });
});

describe('quantised GEMM: native agrees with the TypeScript reference', {
  skip: native ? false : 'native addon not available',
}, () => {
  const k = native as NonNullable<typeof native>;
  it('every format, both orientations, m = 1 .. 64, odd sizes and short last groups, on every SIMD path', () => {
    const addon = loadNative().addon as NonNullable<ReturnType<typeof loadNative>['addon']>;
    const best = addon.simd();
    try {
      for (const level of addon.gemmInfo().supported) {
        addon.setSimd(level);
        for (const format of QUANT_FORMATS) {
          for (const { m, rows, cols, groupSize } of [...CASES, { m: 2, rows: 5, cols: 100, groupSize: 33 }]) {
            const q = quantize(randn([rows, cols], { rng: new Rng(rows + cols) }), format, { groupSize });
            for (const transW of [true, false]) {
              const x = randomF32(m * (transW ? cols : rows), m + 7);
              const n = transW ? rows : cols;
              const a = new Float32Array(m * n).fill(Number.NaN);
              const b = new Float32Array(m * n);
              k.quantGemm({ transW, m, x, w: q, y: a });
              tsKernels.quantGemm({ transW, m, x, w: q, y: b });
              const what = `${level} ${format} transW=${transW} ${m}x${rows}x${cols}/${groupSize}`;
              assertAgree(a, b, transW ? cols : rows, what);
            }
          }
        }
      }
    } finally {
      addon.setSimd(best);
    }
  });
  it('a weight of more than one panel (2²⁰ floats) on the GEMM path, and the fused path', () => {
    for (const format of ['int8', 'int4'] as QuantFormat[]) {
      const q = quantize(randn([1100, 1000], { rng: new Rng(3) }), format);
      for (const [m, transW] of [
        [1, true],
        [9, true],
        [9, false],
      ] as const) {
        const x = randomF32(m * (transW ? 1000 : 1100), m);
        const n = transW ? 1100 : 1000;
        const a = new Float32Array(m * n);
        const b = new Float32Array(m * n);
        k.quantGemm({ transW, m, x, w: q, y: a });
        tsKernels.quantGemm({ transW, m, x, w: q, y: b });
        assertAgree(a, b, transW ? 1000 : 1100, `${format} m=${m} transW=${transW}`);
      }
    }
  });
  it('empty sizes write what they must', () => {
    const empty = quantize(randn([0, 5]), 'int8');
    const y = new Float32Array(10).fill(Number.NaN);
    k.quantGemm({ transW: false, m: 2, x: new Float32Array(0), w: empty, y });
    assert.deepEqual([...y], new Array(10).fill(0));
    const noCols = quantize(randn([3, 0]), 'int4');
    const z = new Float32Array(6).fill(Number.NaN);
    k.quantGemm({ transW: true, m: 2, x: new Float32Array(0), w: noCols, y: z });
    assert.deepEqual([...z], new Array(6).fill(0));
  });
  it('the binding rejects short arrays and wrong kinds instead of reading out of bounds', () => {
    const addon = loadNative().addon as NonNullable<ReturnType<typeof loadNative>['addon']>;
    const q = quantize(randn([4, 8]), 'int8', { groupSize: 4 });
    const x = new Float32Array(16);
    const y = new Float32Array(8);
    const call = (over: Partial<Record<'codes' | 'scales' | 'x' | 'y', unknown>>) => () =>
      addon.quantGemm(
        true,
        2,
        (over.x ?? x) as Float32Array,
        0,
        4,
        8,
        4,
        (over.codes ?? q.codes) as Uint8Array,
        (over.scales ?? q.scales) as Float32Array,
        q.zeros,
        (over.y ?? y) as Float32Array,
      );
    assert.doesNotThrow(call({}));
    assert.throws(call({ codes: new Uint8Array(31) }), RangeError);
    assert.throws(call({ scales: new Float32Array(7) }), RangeError);
    assert.throws(call({ x: new Float32Array(15) }), RangeError);
    assert.throws(call({ y: new Float32Array(7) }), RangeError);
    assert.throws(call({ codes: new Int8Array(32) }), TypeError);
  });
});
