import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { noGrad } from '../../src/engine/autograd.js';
import { rand, randn, tensor } from '../../src/engine/create.js';
import { DTypeError, ShapeError } from '../../src/engine/errors.js';
import { Rng } from '../../src/engine/rng.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { type AttentionOptions, scaledDotProductAttention } from '../../src/ops/attention.js';
import { gt } from '../../src/ops/elementwise.js';
import { expand, reshape, slice, transpose, unsqueeze } from '../../src/ops/views.js';
import { assertClose, gradcheck, leaf } from '../helpers/gradcheck.js';

interface NaiveOptions {
  causal: boolean;
  window?: number;
  /** [B, 1, T, S]: bool (non-zero = attend) or additive. */
  mask?: Tensor;
}

/** Attention by explicit loops: query i of head h sees key j when every rule allows it. */
function naiveAttention(q: Tensor, k: Tensor, v: Tensor, options: NaiveOptions): number[] {
  const [b, hq, t, d] = q.shape;
  const [, hkv, s, dv] = v.shape;
  const [qv, kv, vv] = [q.toArray(), k.toArray(), v.toArray()];
  const maskValues = options.mask?.toArray();
  const isBool = options.mask?.dtype === 'bool';
  const out: number[] = [];
  for (let bi = 0; bi < b; bi++) {
    for (let h = 0; h < hq; h++) {
      const kvh = Math.floor(h / (hq / hkv));
      for (let i = 0; i < t; i++) {
        const scores: number[] = [];
        for (let j = 0; j < s; j++) {
          let visible = true;
          if (options.causal && j > i + s - t) visible = false;
          if (options.window !== undefined && j <= i + s - t - options.window) visible = false;
          let score = 0;
          for (let c = 0; c < d; c++)
            score += qv[((bi * hq + h) * t + i) * d + c] * kv[((bi * hkv + kvh) * s + j) * d + c];
          score /= Math.sqrt(d);
          const m = maskValues?.[(bi * t + i) * s + j];
          if (m !== undefined) {
            if (isBool && m === 0) visible = false;
            if (!isBool) score += m;
          }
          scores.push(visible ? score : Number.NEGATIVE_INFINITY);
        }
        const max = Math.max(...scores);
        const weights = scores.map((x) => (max === Number.NEGATIVE_INFINITY ? 0 : Math.exp(x - max)));
        const z = weights.reduce((x, y) => x + y, 0) || 1;
        for (let c = 0; c < dv; c++) {
          let acc = 0;
          for (let j = 0; j < s; j++) acc += (weights[j] / z) * vv[((bi * hkv + kvh) * s + j) * dv + c];
          out.push(acc);
        }
      }
    }
  }
  return out;
}

/** HF repeat_kv: [B, Hkv, S, D] -> [B, Hkv·n, S, D], each kv head repeated n times in place. */
function repeatKv(x: Tensor, n: number): Tensor {
  const [b, h, s, d] = x.shape;
  return reshape(expand(unsqueeze(x, 2), [b, h, n, s, d]), [b, h * n, s, d]);
}

const f64 = { dtype: 'f64' as const };

describe('scaledDotProductAttention', () => {
  it('matches torch SDPA (GQA, causal aligned to the end) with its gradients', () => {
    // torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=ones(2, 3).tril(1), enable_gqa=True)
    // in float64, with q/k/v/w filled by sin(a·i + b) and loss sum(out · w).
    const gen = (n: number, a: number, b: number) => Array.from({ length: n }, (_, i) => Math.sin(a * i + b));
    const q = tensor(gen(8, 0.7, 0.1), [1, 2, 2, 2], { ...f64, requiresGrad: true });
    const k = tensor(gen(6, 1.3, 0.5), [1, 1, 3, 2], { ...f64, requiresGrad: true });
    const v = tensor(gen(6, 0.9, 2.0), [1, 1, 3, 2], { ...f64, requiresGrad: true });
    const out = scaledDotProductAttention(q, k, v);
    assertClose(
      out.toArray(),
      [
        0.50246117103088, -0.09217003973510672, 0.3065974453583233, 0.04965406247800741, -0.047682987403989435,
        -0.5403317441616515, -0.4345802088715081, -0.49789414286780315,
      ],
      1e-14,
    );
    out.backward(tensor(gen(8, 0.5, 1.0), [1, 2, 2, 2], f64));
    assertClose(
      q.grad?.toArray() ?? [],
      [
        0.15261991417870407, 0.6711554358405929, 0.20159180101178387, 0.33667383602720596, -0.015893818972832558,
        -0.06989404401965899, 0.0020054827749517723, -0.4656280390241089,
      ],
      1e-14,
    );
    assertClose(
      k.grad?.toArray() ?? [],
      [
        0.4446492374442885, 0.6373116340548967, -0.41764103175344613, -0.6397840503336343, -0.027008205690842224,
        0.0024724162787377324,
      ],
      1e-14,
    );
    assertClose(
      v.grad?.toArray() ?? [],
      [
        1.1296164234744908, 0.846285728020313, 0.0027067051320959212, -0.44115734955611885, 0.0027627957789306268,
        -0.13747459311089982,
      ],
      1e-14,
    );
  });

  const rng = new Rng(61);
  const cases: [string, number[], number[], number, AttentionOptions & NaiveOptions][] = [
    ['causal, S = T', [2, 4, 5, 3], [2, 2, 5, 3], 3, { causal: true }],
    ['causal, S > T (KV cache)', [2, 4, 3, 4], [2, 2, 7, 4], 4, { causal: true }],
    ['causal with a sliding window', [1, 3, 6, 4], [1, 1, 9, 4], 2, { causal: true, slidingWindow: 3, window: 3 }],
    ['causal, S < T: early queries see nothing', [1, 2, 5, 2], [1, 2, 3, 2], 3, { causal: true }],
    ['not causal, value width differs', [1, 2, 3, 4], [1, 1, 6, 4], 5, { causal: false }],
  ];
  for (const [name, qShape, kShape, dv, options] of cases) {
    it(`matches explicit loops: ${name}`, () => {
      const q = randn(qShape, { ...f64, rng });
      const k = randn(kShape, { ...f64, rng });
      const v = randn([...kShape.slice(0, 3), dv], { ...f64, rng });
      assertClose(scaledDotProductAttention(q, k, v, options).toArray(), naiveAttention(q, k, v, options), 1e-12);
      // f32 inputs take the same path through the active GEMM.
      const f32 = scaledDotProductAttention(q.to('f32'), k.to('f32'), v.to('f32'), options);
      assert.equal(f32.dtype, 'f32');
      assertClose(f32.toArray(), naiveAttention(q, k, v, options), 1e-5);
    });
  }

  it('applies bool and additive masks broadcast over heads', () => {
    const [b, t, s] = [2, 4, 6];
    const q = randn([b, 4, t, 3], { ...f64, rng });
    const k = randn([b, 2, s, 3], { ...f64, rng });
    const v = randn([b, 2, s, 3], { ...f64, rng });
    const keep = gt(rand([b, 1, t, s], { rng }), 0.3);
    const additive = randn([b, 1, t, s], { ...f64, rng });
    for (const mask of [keep, additive]) {
      for (const causal of [true, false]) {
        assertClose(
          scaledDotProductAttention(q, k, v, { causal, mask }).toArray(),
          naiveAttention(q, k, v, { causal, mask }),
          1e-12,
        );
      }
    }
  });

  it('grouped-query attention equals attention over repeated kv heads, gradients included', () => {
    const q = randn([2, 6, 4, 3], { ...f64, rng }).requiresGrad_();
    const k = randn([2, 2, 5, 3], { ...f64, rng }).requiresGrad_();
    const v = randn([2, 2, 5, 3], { ...f64, rng }).requiresGrad_();
    const grad = randn([2, 6, 4, 3], { ...f64, rng });
    const takeGrads = () =>
      [q, k, v].map((t) => {
        const g = t.grad?.toArray() ?? [];
        t.grad = null;
        return g;
      });
    const gqa = scaledDotProductAttention(q, k, v, { slidingWindow: 2 });
    gqa.backward(grad);
    const grouped = takeGrads();
    const full = scaledDotProductAttention(q, repeatKv(k, 3), repeatKv(v, 3), { slidingWindow: 2 });
    full.backward(grad);
    const repeated = takeGrads();
    assertClose(gqa.toArray(), full.toArray(), 1e-14);
    for (const [i, g] of grouped.entries()) assertClose(g, repeated[i], 1e-13);
  });

  it('gives the same output without a tape (probabilities not kept)', () => {
    const q = randn([2, 4, 5, 3], { rng }).requiresGrad_();
    const k = randn([2, 2, 7, 3], { rng });
    const v = randn([2, 2, 7, 3], { rng });
    const taped = scaledDotProductAttention(q, k, v);
    assert.deepEqual(noGrad(() => scaledDotProductAttention(q, k, v)).toArray(), taped.toArray());
  });

  it('checks shapes, window and mask dtype', () => {
    const q = randn([1, 3, 2, 4]);
    const kv = randn([1, 2, 2, 4]);
    assert.throws(() => scaledDotProductAttention(q, kv, kv), ShapeError);
    const k1 = randn([1, 1, 2, 4]);
    assert.throws(() => scaledDotProductAttention(q, k1, randn([1, 1, 3, 4])), ShapeError);
    assert.throws(() => scaledDotProductAttention(q, k1, k1, { slidingWindow: 0 }), ShapeError);
    assert.throws(
      () => scaledDotProductAttention(q, k1, k1, { mask: tensor([1, 0], undefined, { dtype: 'i32' }) }),
      DTypeError,
    );
  });

  it('gradients for q, k, v: GQA, S > T, sliding window, custom scale', () => {
    gradcheck(
      (q, k, v) => scaledDotProductAttention(q, k, v, { slidingWindow: 3, scale: 0.7 }),
      [leaf([2, 4, 3, 3], 62), leaf([2, 2, 5, 3], 63), leaf([2, 2, 5, 2], 64)],
    );
  });

  it('gradients with size-1 axes and with a mask and no causal rule', () => {
    gradcheck(
      (q, k, v) => scaledDotProductAttention(q, k, v),
      [leaf([1, 1, 1, 1], 65), leaf([1, 1, 1, 1], 66), leaf([1, 1, 1, 1], 67)],
    );
    const mask = gt(rand([1, 1, 3, 4], { rng: new Rng(68) }), 0.4);
    gradcheck(
      (q, k, v) => scaledDotProductAttention(q, k, v, { causal: false, mask }),
      [leaf([1, 2, 3, 2], 69), leaf([1, 1, 4, 2], 70), leaf([1, 1, 4, 3], 71)],
    );
  });

  it('gradients through non-contiguous [B, T, H, D] layouts, rows with no visible key included', () => {
    // The usual projection output [B, T, H, D] transposed to [B, H, T, D]; a sliced cache makes S = 3 < T = 4.
    const heads = (x: Tensor) => transpose(x, 1, 2);
    gradcheck(
      (q, k, v) => scaledDotProductAttention(heads(q), slice(heads(k), 2, 1), slice(heads(v), 2, 1)),
      [leaf([1, 4, 2, 3], 72), leaf([1, 4, 1, 3], 73), leaf([1, 4, 1, 2], 74)],
    );
  });
});
