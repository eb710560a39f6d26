import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HostKernels } from '../../src/backends/kernels.js';
import { loadNative } from '../../src/backends/native/loader.js';
import { nativeKernelTable, tsKernels } from '../../src/backends/registry.js';
import { type AttentionArgs, visibleKeys } from '../../src/backends/ts/attention.js';
import { randn, tensor } from '../../src/engine/create.js';
import type { FloatArray } from '../../src/engine/dtype.js';
import { Rng } from '../../src/engine/rng.js';
import { broadcastStrides } from '../../src/engine/shape.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { scaledDotProductAttention } from '../../src/ops/attention.js';
import { add, mul } from '../../src/ops/elementwise.js';
import { matmul } from '../../src/ops/matmul.js';
import { sum } from '../../src/ops/reduce.js';
import { softmax } from '../../src/ops/softmax.js';
import { expand, reshape, transpose, unsqueeze } from '../../src/ops/views.js';
import { assertClose, gradcheck, leaf } from '../helpers/gradcheck.js';

const native = nativeKernelTable();
const skip = native ? false : 'native addon not available';

/** One kernel case: q [B, Hq, T, D], k [B, Hkv, S, D], v [B, Hkv, S, Dv] and the rules. */
interface Case {
  name: string;
  b: number;
  hq: number;
  hkv: number;
  t: number;
  s: number;
  d: number;
  dv: number;
  causal: boolean;
  window?: number;
  scale?: number;
  /** A mask of this shape (broadcast to [B, Hq, T, S]): bool keeps where a uniform draw exceeds `keep`. */
  mask?: { shape: number[]; kind: 'bool' | 'float' };
  /** Query rows (b, h, i) to hide entirely through the mask (their shape axes must not broadcast). */
  hiddenRows?: [number, number, number][];
}

const cases: Case[] = [
  { name: 'size 1 everywhere', b: 1, hq: 1, hkv: 1, t: 1, s: 1, d: 1, dv: 1, causal: true },
  { name: 'odd sizes, causal, GQA 3:1', b: 2, hq: 3, hkv: 1, t: 7, s: 7, d: 5, dv: 3, causal: true },
  { name: 'S > T (KV cache), Dv ≠ D', b: 1, hq: 4, hkv: 2, t: 3, s: 11, d: 6, dv: 9, causal: true },
  { name: 'S < T: early rows see nothing', b: 1, hq: 2, hkv: 2, t: 6, s: 4, d: 3, dv: 2, causal: true },
  { name: 'sliding window', b: 2, hq: 2, hkv: 1, t: 9, s: 12, d: 4, dv: 4, causal: true, window: 4 },
  { name: 'not causal, custom scale', b: 1, hq: 2, hkv: 1, t: 5, s: 8, d: 3, dv: 5, causal: false, scale: 0.37 },
  {
    name: 'bool mask [B, 1, T, S], a fully masked row',
    b: 2,
    hq: 4,
    hkv: 2,
    t: 6,
    s: 6,
    d: 4,
    dv: 3,
    causal: true,
    mask: { shape: [2, 1, 6, 6], kind: 'bool' },
    hiddenRows: [[1, 0, 4]],
  },
  {
    name: 'float mask [1, Hq, 1, S] with −∞, not causal',
    b: 2,
    hq: 2,
    hkv: 1,
    t: 4,
    s: 7,
    d: 3,
    dv: 3,
    causal: false,
    mask: { shape: [1, 2, 1, 7], kind: 'float' },
    hiddenRows: [[0, 1, 0]],
  },
  {
    name: 'several query and key blocks, window and float mask',
    b: 1,
    hq: 2,
    hkv: 1,
    t: 70,
    s: 150,
    d: 17,
    dv: 20,
    causal: true,
    window: 97,
    mask: { shape: [1, 1, 70, 150], kind: 'float' },
  },
];

/** The case's random inputs in f64 (rounded to f32 values, so that the f32 kernels see the same numbers). */
function inputs(c: Case, seed: number) {
  const rng = new Rng(seed);
  const make = (shape: number[]) => randn(shape, { rng }).to('f64');
  const q = make([c.b, c.hq, c.t, c.d]);
  const k = make([c.b, c.hkv, c.s, c.d]);
  const v = make([c.b, c.hkv, c.s, c.dv]);
  const dOut = make([c.b, c.hq, c.t, c.dv]);
  let mask: Tensor | null = null;
  if (c.mask) {
    const shape = c.mask.shape;
    const n = shape.reduce((x, y) => x * y, 1);
    const draws = Array.from({ length: n }, () => rng.uniform());
    const at = (bi: number, h: number, i: number) =>
      ((bi % shape[0]) * shape[1] + (h % shape[1])) * shape[2] * shape[3] + (i % shape[2]) * shape[3];
    if (c.mask.kind === 'bool') {
      const values = draws.map((u) => (u > 0.3 ? 1 : 0));
      for (const [bi, h, i] of c.hiddenRows ?? []) values.fill(0, at(bi, h, i), at(bi, h, i) + shape[3]);
      mask = tensor(values, shape, { dtype: 'bool' });
    } else {
      const values = draws.map((u) => (u < 0.2 ? Number.NEGATIVE_INFINITY : 3 * u - 1));
      for (const [bi, h, i] of c.hiddenRows ?? []) {
        values.fill(Number.NEGATIVE_INFINITY, at(bi, h, i), at(bi, h, i) + shape[3]);
      }
      mask = tensor(values, shape, { dtype: 'f32' });
    }
  }
  return { q, k, v, dOut, mask };
}

function kernelArgs(c: Case, mask: Tensor | null, dtype: 'f32' | 'f64'): AttentionArgs {
  const m = mask && (mask.dtype === 'bool' ? mask : mask.to(dtype));
  return {
    batch: c.b,
    heads: c.hq,
    kvHeads: c.hkv,
    t: c.t,
    s: c.s,
    d: c.d,
    dv: c.dv,
    scale: c.scale ?? 1 / Math.sqrt(c.d),
    causal: c.causal,
    window: c.window ?? 0,
    mask: m && {
      data: m.dtype === 'bool' ? (m.dataSync() as Uint8Array) : m.floatData(),
      strides: broadcastStrides(m.shape, m.strides, [c.b, c.hq, c.t, c.s]),
      offset: 0,
    },
  };
}

/** Both kernels of one table on the case, in the given precision. */
function runKernels(table: HostKernels, c: Case, x: ReturnType<typeof inputs>, dtype: 'f32' | 'f64') {
  const data = (t: Tensor) => t.to(dtype).floatData().slice();
  const alloc = (n: number): FloatArray => (dtype === 'f32' ? new Float32Array(n) : new Float64Array(n));
  const args = kernelArgs(c, x.mask, dtype);
  const [q, k, v, dOut] = [x.q, x.k, x.v, x.dOut].map(data);
  const out = alloc(c.b * c.hq * c.t * c.dv).fill(Number.NaN);
  const lse = alloc(c.b * c.hq * c.t).fill(Number.NaN);
  table.attentionForward(args, q, k, v, out, lse);
  // NaN-filled outputs: the backward must overwrite every element.
  const dq = alloc(q.length).fill(Number.NaN);
  const dk = alloc(k.length).fill(Number.NaN);
  const dv = alloc(v.length).fill(Number.NaN);
  table.attentionBackward(args, q, k, v, out, lse, dOut, dq, dk, dv);
  return { out, lse, dq, dk, dv };
}

/** HF repeat_kv: [B, Hkv, S, D] -> [B, Hkv·n, S, D]. */
function repeatKv(x: Tensor, n: number): Tensor {
  const [b, h, s, d] = x.shape;
  return reshape(expand(unsqueeze(x, 2), [b, h, n, s, d]), [b, h * n, s, d]);
}

/**
 * softmax(scale · Q Kᵀ + bias) V with matmul and softmax over repeated kv heads, where bias holds the float mask
 * and −∞ for every key a rule hides; rows with no visible key are zeroed. Also each row's log-sum-exp.
 */
function reference(c: Case, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | null) {
  const group = c.hq / c.hkv;
  const shape = [c.b, c.hq, c.t, c.s];
  const maskValues = mask ? expand(mask.to('f64'), shape).toArray() : null;
  const args = kernelArgs(c, null, 'f64');
  const bias = new Array<number>(c.b * c.hq * c.t * c.s).fill(0);
  const keepRow = new Array<number>(c.b * c.hq * c.t).fill(0);
  for (let row = 0; row < keepRow.length; row++) {
    const [lo, hi] = visibleKeys(args, row % c.t);
    for (let j = 0; j < c.s; j++) {
      const at = row * c.s + j;
      const m = maskValues ? maskValues[at] : 0;
      const hidden = j < lo || j > hi || (mask?.dtype === 'bool' && m === 0);
      bias[at] = hidden ? Number.NEGATIVE_INFINITY : mask?.dtype === 'bool' ? 0 : m;
      if (bias[at] !== Number.NEGATIVE_INFINITY) keepRow[row] = 1;
    }
    // A row with nothing visible: any finite bias keeps its softmax finite; keepRow zeroes it afterwards.
    if (!keepRow[row]) bias.fill(0, row * c.s, (row + 1) * c.s);
  }
  const f64 = { dtype: 'f64' as const };
  const scores = add(
    mul(matmul(q, transpose(repeatKv(k, group), 2, 3)), c.scale ?? 1 / Math.sqrt(c.d)),
    tensor(bias, shape, f64),
  );
  const probs = mul(softmax(scores), tensor(keepRow, [c.b, c.hq, c.t, 1], f64));
  const s = scores.toArray();
  const lse = keepRow.map((keep, row) => {
    if (!keep) return Number.POSITIVE_INFINITY;
    const vals = s.slice(row * c.s, (row + 1) * c.s);
    const max = Math.max(...vals);
    return max + Math.log(vals.reduce((acc, x) => acc + Math.exp(x - max), 0));
  });
  return { out: matmul(probs, repeatKv(v, group)), lse };
}

describe('attention kernels (TypeScript reference)', () => {
  for (const [n, c] of cases.entries()) {
    it(`forward and backward match matmul/softmax attention and its autograd: ${c.name}`, () => {
      const x = inputs(c, 100 + n);
      const got = runKernels(tsKernels, c, x, 'f64');
      const [q, k, v] = [x.q, x.k, x.v].map((t) => t.detach().requiresGrad_());
      const want = reference(c, q, k, v, x.mask);
      assertClose(got.out, want.out.toArray(), 1e-12, 1e-12);
      assertClose(got.lse, want.lse, 1e-12, 1e-12);
      sum(mul(want.out, x.dOut)).backward();
      assertClose(got.dq, q.grad?.toArray() ?? [], 1e-12, 1e-11);
      assertClose(got.dk, k.grad?.toArray() ?? [], 1e-12, 1e-11);
      assertClose(got.dv, v.grad?.toArray() ?? [], 1e-12, 1e-11);
      // f32 arrays: the same sums (in f64), rounded once into the outputs.
      const f32 = runKernels(tsKernels, c, x, 'f32');
      assertClose(f32.out, got.out, 1e-6, 1e-6);
      assertClose(f32.dq, got.dq, 1e-5, 1e-5);
    });
  }

  it('a row with no visible key outputs 0, has lse +∞ and gets exactly 0 gradient', () => {
    const c = cases[3]; // S < T: rows 0 and 1 see no key
    const got = runKernels(tsKernels, c, inputs(c, 7), 'f64');
    for (const row of [0, 1]) {
      assert.equal(got.lse[row], Number.POSITIVE_INFINITY);
      assert.deepEqual(Array.from(got.out.subarray(row * c.dv, (row + 1) * c.dv)), [0, 0]);
      assert.deepEqual(Array.from(got.dq.subarray(row * c.d, (row + 1) * c.d)), [0, 0, 0]);
    }
  });

  it('gradcheck through the op: GQA, S > T, window, float mask with hidden rows, odd sizes', () => {
    const mask = tensor(
      [0, -1, 0.5, Number.NEGATIVE_INFINITY, 2, 0, -0.25, 1].concat(new Array(4).fill(Number.NEGATIVE_INFINITY)),
      [1, 1, 3, 4],
      { dtype: 'f64' },
    );
    gradcheck(
      (q, k, v) => scaledDotProductAttention(q, k, v, { slidingWindow: 2, mask, scale: 0.8 }),
      [leaf([1, 4, 3, 3], 81), leaf([1, 2, 4, 3], 82), leaf([1, 2, 4, 5], 83)],
    );
  });
});

describe('native attention kernels agree with the TypeScript twin', { skip }, () => {
  const table = native as HostKernels;
  for (const [n, c] of cases.entries()) {
    it(`f32 forward and backward vs the f64 reference kernel: ${c.name}`, () => {
      const x = inputs(c, 200 + n);
      const got = runKernels(table, c, x, 'f32');
      const want = runKernels(tsKernels, c, x, 'f64');
      assertClose(got.out, want.out, 1e-5, 1e-5);
      assertClose(got.lse, want.lse, 1e-5, 1e-5);
      assertClose(got.dq, want.dq, 2e-5, 1e-4);
      assertClose(got.dk, want.dk, 2e-5, 1e-4);
      assertClose(got.dv, want.dv, 2e-5, 1e-4);
    });
  }

  it('skips null gradient outputs and leaves them alone', () => {
    const c = cases[2];
    const x = inputs(c, 9);
    const args = kernelArgs(c, null, 'f32');
    const [q, k, v, dOut] = [x.q, x.k, x.v, x.dOut].map((t) => t.to('f32').floatData().slice());
    const out = new Float32Array(c.b * c.hq * c.t * c.dv);
    const lse = new Float32Array(c.b * c.hq * c.t);
    table.attentionForward(args, q, k, v, out, lse);
    const full = runKernels(table, c, x, 'f32');
    const dv = new Float32Array(v.length);
    table.attentionBackward(args, q, k, v, out, lse, dOut, null, null, dv);
    assert.deepEqual(dv, full.dv);
    const dq = new Float32Array(q.length);
    table.attentionBackward(args, q, k, v, out, lse, dOut, dq, null, null);
    assert.deepEqual(dq, full.dq);
  });

  it('the raw addon checks its arrays and sizes', () => {
    const addon = loadNative().addon;
    assert.ok(addon);
    const f = (n: number) => new Float32Array(n);
    const shape = [1, 2, 1, 3, 4, 2, 2, 0.5, true, 0] as const;
    const ok = () => addon.attentionForward(f(12), f(8), f(8), f(12), f(6), ...shape, null, null, 0);
    assert.doesNotThrow(ok);
    assert.throws(() => addon.attentionForward(f(11), f(8), f(8), f(12), f(6), ...shape, null, null, 0), RangeError);
    assert.throws(() => addon.attentionForward(f(12), f(8), f(7), f(12), f(6), ...shape, null, null, 0), RangeError);
    const heads = [1, 3, 2, 3, 4, 2, 2, 0.5, true, 0] as const;
    assert.throws(() => addon.attentionForward(f(18), f(16), f(16), f(18), f(9), ...heads, null, null, 0), RangeError);
    const strides = Float64Array.of(0, 0, 4, 1);
    assert.doesNotThrow(() => addon.attentionForward(f(12), f(8), f(8), f(12), f(6), ...shape, f(12), strides, 0));
    assert.throws(
      () => addon.attentionForward(f(12), f(8), f(8), f(12), f(6), ...shape, f(12), strides, 1),
      RangeError,
    );
    assert.throws(
      () =>
        addon.attentionForward(
          f(12),
          f(8),
          f(8),
          f(12),
          f(6),
          ...shape,
          new Float64Array(12) as unknown as Float32Array,
          strides,
          0,
        ),
      TypeError,
    );
    assert.throws(
      () => addon.attentionBackward(f(12), f(8), f(8), f(12), f(6), f(12), f(11), null, null, ...shape, null, null, 0),
      RangeError,
    );
  });
});
