import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { randn } from '../../../src/engine/create.js';
import { DTypeError } from '../../../src/engine/errors.js';
import {
  DEFAULT_GROUP_SIZE,
  FORMAT_TRAITS,
  formatTraits,
  QUANT_FORMATS,
  roundHalfEven,
} from '../../../src/engine/quant/formats.js';
import { quantize } from '../../../src/engine/quant/quantized-tensor.js';
import { Rng } from '../../../src/engine/rng.js';

describe('quantised format traits', () => {
  it('round half to even, on both signs', () => {
    for (const [x, r] of [
      [0.5, 0],
      [1.5, 2],
      [2.5, 2],
      [3.5, 4],
      [-0.5, 0],
      [-1.5, -2],
      [-2.5, -2],
      [1.4999999, 1],
      [-1.5000001, -2],
      [7, 7],
    ]) {
      assert.equal(roundHalfEven(x) + 0, r, `round(${x})`);
    }
  });

  it('has an entry for every format, and bytesPerBlock is what a one-block tensor takes', () => {
    assert.deepEqual(Object.keys(FORMAT_TRAITS).sort(), [...QUANT_FORMATS].sort());
    for (const format of QUANT_FORMATS) {
      const traits = formatTraits(format);
      assert.equal(traits.name, format);
      for (const g of [DEFAULT_GROUP_SIZE, 64, 8]) {
        const q = quantize(randn([1, g], { rng: new Rng(g) }), format, { groupSize: g });
        assert.equal(q.byteSize, traits.bytesPerBlock(g), `${format} g=${g}`);
      }
    }
    assert.equal(FORMAT_TRAITS.int8.bytesPerBlock(256), 261);
    assert.equal(FORMAT_TRAITS.int4.bytesPerBlock(256), 133);
  });

  it('names the formats there are for an unknown one', () => {
    assert.throws(
      () => formatTraits('int3'),
      (e: unknown) => e instanceof DTypeError && /int8, int4/.test(e.message),
    );
  });

  it('int4 packs two codes a byte, low nibble first, and pads an odd row', () => {
    const traits = FORMAT_TRAITS.int4;
    const codes = new Uint8Array(4);
    // lo = 0, hi = 15: s = 1, z = 0, so the codes are the values.
    const io = { values: [0, 15, 1, 2, 3, 4, 5], start: 0, len: 7, codes, codeStart: 0 };
    const { scale, zero } = traits.quantizeBlock(io, { mode: 'nearest', rng: null });
    assert.equal(scale, 1);
    assert.equal(zero, 0);
    assert.deepEqual([...codes], [0xf0, 0x21, 0x43, 0x05]);
    assert.equal(traits.codeStride(7), 8);
    const out = new Float32Array(7);
    traits.dequantizeBlock(codes, 0, 7, scale, zero, out, 0);
    assert.deepEqual([...out], io.values);
  });

  it('int4 writes a block starting on an odd slot without touching its neighbour nibble', () => {
    const traits = FORMAT_TRAITS.int4;
    const codes = Uint8Array.of(0x0a, 0x00);
    traits.quantizeBlock({ values: [15, 0, 7], start: 0, len: 3, codes, codeStart: 1 }, { mode: 'nearest', rng: null });
    assert.deepEqual([...codes], [0xfa, 0x70]);
  });
});
