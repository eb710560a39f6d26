import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rand, randn, tensor } from '../../../src/engine/create.js';
import { DTypeError, ShapeError } from '../../../src/engine/errors.js';
import { groupsPerRow, type QuantFormat } from '../../../src/engine/quant/formats.js';
import { dequantize, QuantizedTensor, quantize } from '../../../src/engine/quant/quantized-tensor.js';
import { Rng } from '../../../src/engine/rng.js';
import type { Tensor } from '../../../src/engine/tensor.js';

const ASYMMETRIC: QuantFormat[] = ['int8', 'int4'];

/** The scale of the group holding element (r, c). */
function scaleAt(q: QuantizedTensor, r: number, c: number): number {
  return q.scales[r * groupsPerRow(q) + Math.floor(c / q.groupSize)];
}

/** |w − ŵ| ≤ bound·s for every element, s the element's group scale (plus f32 rounding of ŵ). */
function assertWithin(w: Tensor, q: QuantizedTensor, bound: number): void {
  const a = w.toArray();
  const b = dequantize(q).toArray();
  for (let i = 0; i < a.length; i++) {
    const s = scaleAt(q, Math.floor(i / q.cols), i % q.cols);
    const limit = bound * s * (1 + 1e-5) + 1e-7 * Math.abs(a[i]);
    assert.ok(Math.abs(a[i] - b[i]) <= limit, `element ${i}: ${a[i]} -> ${b[i]}, scale ${s}`);
  }
}

describe('quantize / dequantize', () => {
  it('round trips within half a step for nearest rounding, with a shorter last group', () => {
    const w = randn([7, 300], { rng: new Rng(1) });
    for (const format of ASYMMETRIC) {
      const q = quantize(w, format, { groupSize: 64 });
      assert.deepEqual(q.shape, [7, 300]);
      assert.equal(q.scales.length, 7 * 5);
      assertWithin(w, q, 0.5);
      // The range includes 0: s = (max(hi, 0) − min(lo, 0))/(2ᵇ − 1) for the short last group of row 0.
      const last = w.toArray().slice(256, 300);
      const top = format === 'int8' ? 255 : 15;
      const expected = Math.fround((Math.max(...last, 0) - Math.min(...last, 0)) / top);
      assert.ok(Math.abs(q.scales[4] - expected) <= 1e-6 * expected);
    }
  });

  it('all-positive and all-negative groups keep their resolution and map 0 to exactly 0', () => {
    for (const format of ASYMMETRIC) {
      const top = format === 'int8' ? 255 : 15;
      for (const [lo, hi, zero] of [
        [1, 1.1, 0],
        [-1.1, -1, top],
      ]) {
        const w = rand([3, 64], { low: lo, high: hi, rng: new Rng(5) });
        const q = quantize(w, format, { groupSize: 32 });
        // Without 0 in the range the clamp would pin every value to one code (the Q-GaLore collapse).
        assertWithin(w, q, 0.5);
        assert.ok(q.zeros?.every((z) => z === zero));
        const distinct = new Set(dequantize(q).toArray());
        assert.ok(distinct.size >= Math.min(top, 10), `${format} [${lo}, ${hi}]: ${distinct.size} levels`);
        const withZero = w.toArray();
        withZero[5] = 0;
        const back = dequantize(quantize(tensor(withZero, [3, 64]), format, { groupSize: 32 }));
        assert.equal(back.toArray()[5], 0);
      }
    }
  });

  it('zeros and an all-zero group dequantise to exactly 0 in every format', () => {
    const values = randn([4, 40], { rng: new Rng(2) }).toArray();
    for (let i = 0; i < values.length; i += 3) values[i] = 0;
    for (let i = 40; i < 80; i++) values[i] = 0; // row 1 all zero
    const w = tensor(values, [4, 40]);
    for (const format of [...ASYMMETRIC, 'int8-channel'] as QuantFormat[]) {
      const back = dequantize(quantize(w, format, { groupSize: 16 })).toArray();
      for (let i = 0; i < values.length; i++) if (values[i] === 0) assert.equal(back[i], 0, `${format} ${i}`);
    }
  });

  it('stochastic rounding is unbiased over many draws, within a step, and reproducible for a seed', () => {
    const w = randn([4, 48], { rng: new Rng(3) });
    const values = w.toArray();
    for (const format of ASYMMETRIC) {
      const draws = 400;
      const rng = new Rng(7);
      const sum = new Float64Array(values.length);
      let q: QuantizedTensor | null = null;
      for (let d = 0; d < draws; d++) {
        q = quantize(w, format, { groupSize: 16, rounding: 'stochastic', rng });
        assertWithin(w, q, 1);
        dequantize(q)
          .toArray()
          .forEach((v, i) => {
            sum[i] += v;
          });
      }
      const last = q as QuantizedTensor;
      let tested = 0;
      for (let i = 0; i < values.length; i++) {
        const s = scaleAt(last, Math.floor(i / 48), i % 48);
        const z = last.zeros?.[Math.floor(i / 48) * 3 + Math.floor((i % 48) / 16)] ?? 0;
        const t = values[i] / s + z;
        // The clamp to [0, 2ᵇ − 1] biases the group's extremes; the rest must be unbiased.
        if (t < 0 || t > (format === 'int8' ? 255 : 15)) continue;
        tested++;
        const standardError = s / 2 / Math.sqrt(draws);
        assert.ok(Math.abs(sum[i] / draws - values[i]) <= 5 * standardError, `${format} element ${i}`);
      }
      assert.ok(tested > values.length * 0.8);
      const a = quantize(w, format, { rounding: 'stochastic', rng: new Rng(11) });
      const b = quantize(w, format, { rounding: 'stochastic', rng: new Rng(11) });
      const c = quantize(w, format, { rounding: 'stochastic', rng: new Rng(12) });
      assert.deepEqual(a.codes, b.codes);
      assert.notDeepEqual(a.codes, c.codes);
    }
  });

  it('int4 round trips odd row lengths, two codes a byte', () => {
    for (const cols of [1, 7, 33]) {
      const w = randn([3, cols], { rng: new Rng(cols) });
      const q = quantize(w, 'int4', { groupSize: 4 });
      assert.equal(q.codes.length, 3 * Math.ceil(cols / 2));
      assertWithin(w, q, 0.5);
      if (cols % 2) for (let r = 0; r < 3; r++) assert.equal(q.codes[r * Math.ceil(cols / 2) + (cols - 1) / 2] >> 4, 0);
    }
  });

  it('symmetric int8 per output channel: s = max|w|/127, codes in [−127, 127]', () => {
    const values = randn([5, 33], { rng: new Rng(4) }).toArray();
    for (let i = 66; i < 99; i++) values[i] = 0;
    const w = tensor(values, [5, 33]);
    const q = quantize(w, 'int8-channel', { groupSize: 8 });
    assert.equal(q.groupSize, 33);
    assert.equal(q.zeros, null);
    assert.ok(q.codes instanceof Int8Array);
    assert.equal(q.scales[2], 0);
    for (let r = 0; r < 5; r++) {
      const row = values.slice(r * 33, (r + 1) * 33);
      assert.equal(q.scales[r], Math.fround(Math.max(...row.map(Math.abs)) / 127));
      const codes: number[] = Array.from(q.codes.slice(r * 33, (r + 1) * 33));
      if (r !== 2) assert.equal(Math.max(...codes.map(Math.abs)), 127);
    }
    assertWithin(w, q, 0.5);
    assert.equal(q.byteSize, 5 * 33 + 5 * 4);
  });

  it('reports its byte size and a transposed view that shares the codes', () => {
    const w = randn([4, 512], { rng: new Rng(6) });
    assert.equal(quantize(w, 'int8').byteSize, 4 * 512 + 8 * 5);
    assert.equal(quantize(w, 'int4').byteSize, 2 * 512 + 8 * 5);
    const q = quantize(randn([3, 5], { rng: new Rng(8) }), 'int8', { groupSize: 2 });
    const t = q.t();
    assert.deepEqual(t.shape, [5, 3]);
    assert.equal(t.codes, q.codes);
    const dense = dequantize(q).toArray();
    const denseT = dequantize(t).toArray();
    for (let r = 0; r < 3; r++) for (let c = 0; c < 5; c++) assert.equal(denseT[c * 3 + r], dense[r * 5 + c]);
  });

  it('quantises f64 weights the same as their f32 rounding', () => {
    const w = randn([2, 20], { rng: new Rng(9) });
    const a = quantize(w, 'int8', { groupSize: 8 });
    const b = quantize(w.to('f64'), 'int8', { groupSize: 8 });
    assert.deepEqual(a.codes, b.codes);
    assert.deepEqual(a.scales, b.scales);
  });

  it('rejects what it cannot store', () => {
    assert.throws(() => quantize(randn([2, 3, 4]), 'int8'), ShapeError);
    assert.throws(() => quantize(randn([2, 4]), 'int8', { groupSize: 0 }), ShapeError);
    assert.throws(() => quantize(randn([2, 4]), 'int2' as QuantFormat), DTypeError);
    const q = quantize(randn([2, 4]), 'int8');
    assert.throws(() => new QuantizedTensor({ ...q, scales: new Float32Array(1) }), ShapeError);
    assert.throws(() => new QuantizedTensor({ ...q, zeros: null }), ShapeError);
  });
});
