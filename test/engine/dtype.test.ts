import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tensor } from '../../src/engine/create.js';
import { bf16BitsToF32, convertStorage, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../../src/engine/dtype.js';
import { Rng } from '../../src/engine/rng.js';

const f32 = (x: number) => Math.fround(x);

describe('half-precision conversions', () => {
  it('every f16 bit pattern round-trips through f32', () => {
    for (let h = 0; h < 0x10000; h++) {
      const x = f16BitsToF32(h);
      if (Number.isNaN(x)) {
        assert.ok(Number.isNaN(f16BitsToF32(f32ToF16Bits(x))));
        continue;
      }
      assert.equal(f32ToF16Bits(x), h, `f16 0x${h.toString(16)}`);
    }
  });
  it('every bf16 bit pattern round-trips through f32', () => {
    for (let h = 0; h < 0x10000; h++) {
      const x = bf16BitsToF32(h);
      if (Number.isNaN(x)) {
        assert.ok(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(x))));
        continue;
      }
      assert.equal(f32ToBf16Bits(x), h, `bf16 0x${h.toString(16)}`);
    }
  });
  it('f32 -> f16 and bf16 round to the nearest value, ties to even', () => {
    const rng = new Rng(5);
    for (let i = 0; i < 20000; i++) {
      // Log-uniform magnitudes from deep subnormal to past overflow, both signs.
      const x = f32((rng.uniform() < 0.5 ? -1 : 1) * 2 ** (rng.uniform() * 46 - 30));
      for (const [enc, dec] of [
        [f32ToF16Bits, f16BitsToF32],
        [f32ToBf16Bits, bf16BitsToF32],
      ] as const) {
        const h = enc(x);
        const got = dec(h);
        if (!Number.isFinite(got)) {
          assert.ok(Math.abs(x) >= 65504, `${x} overflowed`);
          continue;
        }
        const err = Math.abs(got - x);
        for (const nb of [h - 1, h + 1]) {
          if ((nb & 0x7fff) > 0x7c00 && enc === f32ToF16Bits) continue;
          const alt = dec(nb & 0xffff);
          if (!Number.isFinite(alt)) continue;
          const altErr = Math.abs(alt - x);
          assert.ok(err < altErr || (err === altErr && (h & 1) === 0), `${x}: ${got} vs neighbour ${alt}`);
        }
      }
    }
  });
  it('known values', () => {
    assert.equal(f32ToF16Bits(65504), 0x7bff);
    assert.equal(f32ToF16Bits(65520), 0x7c00); // rounds to +inf, as numpy
    assert.equal(f32ToF16Bits(-0), 0x8000);
    assert.equal(f16BitsToF32(0x0001), 2 ** -24);
    assert.equal(f32ToF16Bits(2 ** -25), 0); // exact tie with 0 goes to even
    assert.equal(f32ToF16Bits(f32(2 ** -25 * 1.5)), 1);
    assert.equal(f32ToBf16Bits(1), 0x3f80);
    assert.equal(f32ToBf16Bits(f32(1 + 2 ** -8)), 0x3f80); // tie to even
    assert.equal(f32ToBf16Bits(f32(1 + 3 * 2 ** -8)), 0x3f82);
    assert.equal(bf16BitsToF32(0xc2f7), -123.5);
  });
  it('tensor casts between storage dtypes', () => {
    const t = tensor([1.5, -2.25, 300.7, 0]);
    assert.deepEqual(t.to('bf16').to('f32').toArray(), [1.5, -2.25, 300, 0]);
    assert.deepEqual(t.to('f16').toArray(), [1.5, -2.25, 300.75, 0]);
    assert.deepEqual(t.to('i8').toArray(), [1, -2, 127, 0]);
    assert.deepEqual(t.to('u8').toArray(), [1, 0, 255, 0]);
    assert.deepEqual(t.to('i32').toArray(), [1, -2, 300, 0]);
    assert.deepEqual(t.to('bool').toArray(), [1, 1, 1, 0]);
    assert.deepEqual(Array.from(convertStorage(new Uint16Array([0x3f80, 0xc000]), 'bf16', 'f16')), [0x3c00, 0xc000]);
  });
});
