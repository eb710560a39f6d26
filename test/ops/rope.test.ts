import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { randn, tensor } from '../../src/engine/create.js';
import { ShapeError } from '../../src/engine/errors.js';
import { Rng } from '../../src/engine/rng.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { applyRotary, ropeCosSin, ropeInvFreq, rotaryEmbedding } from '../../src/ops/rope.js';
import { reshape, slice, transpose } from '../../src/ops/views.js';
import { assertClose, gradcheck, leaf } from '../helpers/gradcheck.js';

/** HF apply_rotary_pos_emb for x [B, H, T, D] and cos/sin [T, D], by explicit loops. */
function naiveRotary(x: Tensor, cos: Tensor, sin: Tensor): number[] {
  const [b, h, t, d] = x.shape;
  const xv = x.toArray();
  const cv = cos.toArray();
  const sv = sin.toArray();
  const out: number[] = [];
  for (let row = 0; row < b * h * t; row++) {
    const p = row % t;
    for (let j = 0; j < d; j++) {
      const rotated = j < d / 2 ? -xv[row * d + j + d / 2] : xv[row * d + j - d / 2];
      out.push(xv[row * d + j] * cv[p * d + j] + rotated * sv[p * d + j]);
    }
  }
  return out;
}

const positions = [0, 1, 5, 100, 4097];

describe('ropeCosSin', () => {
  it('matches HF LlamaRotaryEmbedding (default, theta 10000) in f32', () => {
    // LlamaRotaryEmbedding(head_dim=16, rope_theta=10000) at positions [0, 1, 5, 100, 4097]; rows 3 and 4.
    const hfCos100 = [
      0.8623188734054565, 0.978682816028595, -0.83907151222229, -0.9997860789299011, 0.5403023362159729,
      0.9504152536392212, 0.9950041770935059, 0.999500036239624,
    ];
    const hfSin4097 = [
      0.3552483320236206, 0.9486789107322693, 0.9616531133651733, -0.6839902997016907, -0.12893298268318176,
      0.3797091543674469, -0.8165490031242371, 0.9623678922653198,
    ];
    const { cos, sin } = ropeCosSin(positions, 16);
    assert.deepEqual(cos.shape, [5, 16]);
    assert.equal(cos.dtype, 'f32');
    const c = cos.toArray();
    const s = sin.toArray();
    assertClose(c.slice(48, 56), hfCos100, 2e-7, 0);
    assertClose(c.slice(56, 64), hfCos100, 2e-7, 0);
    assertClose(s.slice(64, 72), hfSin4097, 2e-7, 0);
    assertClose(s.slice(72, 80), hfSin4097, 2e-7, 0);
  });

  it('computes 1/theta^(2i/D) in f64', () => {
    const inv = ropeInvFreq(8, { theta: 500000, dtype: 'f64' });
    assertClose(
      Array.from(inv),
      [0, 2, 4, 6].map((i) => 1 / 500000 ** (i / 8)),
      0,
      1e-15,
    );
    const { cos, sin } = ropeCosSin([3], 8, { theta: 500000, dtype: 'f64' });
    assertClose(
      cos.toArray(),
      [...inv, ...inv].map((f) => Math.cos(3 * f)),
      0,
      1e-15,
    );
    assertClose(
      sin.toArray(),
      [...inv, ...inv].map((f) => Math.sin(3 * f)),
      1e-16,
      1e-14,
    );
  });

  it('llama3 scaling matches HF _compute_llama3_parameters', () => {
    // head_dim 16, rope_theta 500000, factor 8, low 1, high 4, original_max_position_embeddings 256.
    const hfInv = [
      1.0, 0.193922758102417, 0.010538230650126934, 0.0009115831344388425, 0.00017677668074611574, 3.428102354519069e-5,
      6.647869668086059e-6, 1.289173155782919e-6,
    ];
    const hfCos4097 = [
      0.9347719550132751, -0.9487892389297485, 0.6915494203567505, -0.8291765451431274, 0.7489938735961914,
      0.9901531934738159, 0.9996291399002075, 0.9999860525131226,
    ];
    const options = {
      theta: 500000,
      scaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 256 },
    } as const;
    // Bit-exact: each torch op is rounded to f32 in the same order.
    assert.deepEqual(Array.from(ropeInvFreq(16, options)), hfInv);
    const { cos } = ropeCosSin(positions, 16, options);
    assertClose(cos.toArray().slice(64, 72), hfCos4097, 1e-6, 0);
  });

  it('linear scaling divides the positions by the factor', () => {
    const scaled = ropeCosSin([0, 4, 10], 6, { scaling: { type: 'linear', factor: 2 }, dtype: 'f64' });
    const plain = ropeCosSin([0, 2, 5], 6, { dtype: 'f64' });
    assertClose(scaled.cos.toArray(), plain.cos.toArray(), 1e-15);
    assertClose(scaled.sin.toArray(), plain.sin.toArray(), 1e-15);
  });

  it('rejects an odd head dimension', () => {
    assert.throws(() => ropeCosSin([0], 7), ShapeError);
  });
});

describe('applyRotary', () => {
  it('matches the rotate-half formula, with [T, D] and [B, 1, T, D] tables', () => {
    const x = randn([2, 3, 5, 8], { rng: new Rng(51) });
    const { cos, sin } = ropeCosSin(positions, 8);
    const expected = naiveRotary(x, cos, sin);
    assertClose(applyRotary(x, cos, sin).toArray(), expected, 1e-6);
    const wide = (t: Tensor) => reshape(t, [1, 1, 5, 8]);
    assertClose(applyRotary(x, wide(cos), wide(sin)).toArray(), expected, 1e-6);
    const [q, k] = rotaryEmbedding(x, x, cos, sin);
    assert.deepEqual(q.toArray(), k.toArray());
  });

  it('rotates each (j, j + D/2) pair by its own angle', () => {
    const x = tensor([[[[1, 2, 3, 4]]]], undefined, { dtype: 'f64' });
    const { cos, sin } = ropeCosSin([7], 4, { dtype: 'f64' });
    const y = applyRotary(x, cos, sin).toArray();
    const [a0, a1] = [7, 7 / 100];
    assertClose(
      y,
      [
        Math.cos(a0) - 3 * Math.sin(a0),
        2 * Math.cos(a1) - 4 * Math.sin(a1),
        3 * Math.cos(a0) + Math.sin(a0),
        4 * Math.cos(a1) + 2 * Math.sin(a1),
      ],
      1e-14,
    );
  });

  it('rejects tables that do not broadcast', () => {
    const { cos, sin } = ropeCosSin([0, 1, 2], 4);
    assert.throws(() => applyRotary(randn([1, 1, 2, 4]), cos, sin), ShapeError);
  });

  it('gradient for x, including odd sizes and size-1 axes', () => {
    for (const [shape, seed] of [
      [[2, 3, 5, 6], 52],
      [[1, 1, 1, 2], 53],
    ] as const) {
      const t = shape[2];
      const { cos, sin } = ropeCosSin(
        Array.from({ length: t }, (_, i) => 3 * i + 1),
        shape[3],
        { dtype: 'f64' },
      );
      gradcheck((x) => applyRotary(x, cos, sin), [leaf([...shape], seed)]);
    }
  });

  it('gradient through a non-contiguous input and general (non-duplicated) tables', () => {
    // Random cos/sin tables exercise the transposed rotation with distinct halves.
    const cos = randn([4, 6], { dtype: 'f64', rng: new Rng(54) });
    const sin = randn([1, 1, 4, 6], { dtype: 'f64', rng: new Rng(55) });
    gradcheck((x) => applyRotary(transpose(x, 1, 2), cos, sin), [leaf([2, 4, 3, 6], 56)]);
    gradcheck((x) => applyRotary(slice(x, 2, 1, 5), cos, sin), [leaf([1, 2, 6, 6], 57)]);
  });
});
