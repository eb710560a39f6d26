import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { randn, tensor, zeros } from '../../src/engine/create.js';
import { DTypeError, ShapeError } from '../../src/engine/errors.js';
import { Rng } from '../../src/engine/rng.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { type Conv2dOptions, conv1d, conv2d } from '../../src/ops/conv.js';
import { slice, transpose } from '../../src/ops/views.js';
import { assertClose, gradcheck, leaf } from '../helpers/gradcheck.js';

type Pair = [number, number];
const asPair = (v: number | readonly number[] | undefined, dflt: number): Pair =>
  v === undefined ? [dflt, dflt] : typeof v === 'number' ? [v, v] : [v[0], v[1]];

/** Direct-loop 2-D cross-correlation, the reference the im2col + GEMM path must match. */
function naiveConv2d(x: Tensor, w: Tensor, b: Tensor | null, options: Conv2dOptions): number[] {
  const [N, C, H, W] = x.shape;
  const [cOut, cg, kH, kW] = w.shape;
  const [sH, sW] = asPair(options.stride, 1);
  const [pH, pW] = asPair(options.padding, 0);
  const [dH, dW] = asPair(options.dilation, 1);
  const groups = options.groups ?? 1;
  const oH = Math.floor((H + 2 * pH - dH * (kH - 1) - 1) / sH) + 1;
  const oW = Math.floor((W + 2 * pW - dW * (kW - 1) - 1) / sW) + 1;
  const xs = x.toArray();
  const ws = w.toArray();
  const bs = b?.toArray();
  const out: number[] = [];
  for (let n = 0; n < N; n++) {
    for (let co = 0; co < cOut; co++) {
      const g = Math.floor(co / (cOut / groups));
      for (let oh = 0; oh < oH; oh++) {
        for (let ow = 0; ow < oW; ow++) {
          let s = bs ? bs[co] : 0;
          for (let ci = 0; ci < cg; ci++) {
            const c = g * cg + ci;
            for (let kh = 0; kh < kH; kh++) {
              for (let kw = 0; kw < kW; kw++) {
                const ih = oh * sH - pH + kh * dH;
                const iw = ow * sW - pW + kw * dW;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                s += xs[((n * C + c) * H + ih) * W + iw] * ws[((co * cg + ci) * kH + kh) * kW + kw];
              }
            }
          }
          out.push(s);
        }
      }
    }
  }
  return out;
}

interface Case2d {
  name: string;
  x: number[];
  w: number[];
  options: Conv2dOptions;
}

const cases2d: Case2d[] = [
  { name: 'plain 3x3', x: [2, 3, 5, 6], w: [4, 3, 3, 3], options: {} },
  {
    name: 'stride [2, 1], padding [1, 0]',
    x: [1, 2, 7, 5],
    w: [3, 2, 3, 2],
    options: { stride: [2, 1], padding: [1, 0] },
  },
  { name: 'dilation 2, padding 2', x: [2, 2, 6, 7], w: [2, 2, 3, 3], options: { dilation: 2, padding: 2 } },
  {
    name: 'dilation [1, 2], stride 3',
    x: [1, 2, 7, 8],
    w: [2, 2, 2, 3],
    options: { dilation: [1, 2], stride: 3, padding: [0, 1] },
  },
  {
    name: 'groups 2, stride 2, padding 1',
    x: [2, 4, 5, 5],
    w: [6, 2, 3, 3],
    options: { groups: 2, stride: 2, padding: 1 },
  },
  { name: 'depthwise', x: [2, 3, 5, 4], w: [3, 1, 3, 3], options: { groups: 3, padding: 1 } },
  { name: 'depthwise, channel multiplier 2', x: [1, 3, 4, 5], w: [6, 1, 2, 2], options: { groups: 3 } },
  { name: '1x1 (no im2col)', x: [2, 4, 3, 3], w: [5, 4, 1, 1], options: {} },
  { name: '1x1 grouped', x: [2, 4, 3, 2], w: [4, 2, 1, 1], options: { groups: 2 } },
  { name: '1x1 stride 2', x: [1, 2, 5, 3], w: [3, 2, 1, 1], options: { stride: 2 } },
  { name: 'all sizes 1', x: [1, 1, 1, 1], w: [1, 1, 1, 1], options: {} },
  { name: 'kernel spans input', x: [3, 1, 3, 1], w: [2, 1, 3, 1], options: {} },
  { name: 'window sees mostly padding', x: [1, 2, 3, 3], w: [1, 2, 3, 3], options: { padding: 2, stride: 3 } },
];

describe('conv2d', () => {
  for (const c of cases2d) {
    const cOut = c.w[0];
    it(`${c.name}: forward matches direct loops (f64 and f32)`, () => {
      const x = randn(c.x, { dtype: 'f64', rng: new Rng(1) });
      const w = randn(c.w, { dtype: 'f64', rng: new Rng(2) });
      const b = randn([cOut], { dtype: 'f64', rng: new Rng(3) });
      const expected = naiveConv2d(x, w, b, c.options);
      const out = conv2d(x, w, b, c.options);
      assert.equal(out.size, expected.length);
      assertClose(out.toArray(), expected, 1e-12);
      const out32 = conv2d(x.to('f32'), w.to('f32'), b.to('f32'), c.options);
      assert.equal(out32.dtype, 'f32');
      assertClose(out32.toArray(), expected, 1e-4);
    });
    it(`${c.name}: gradients for x, weight and bias`, () => {
      gradcheck((x, w, b) => conv2d(x, w, b, c.options), [leaf(c.x, 4), leaf(c.w, 5), leaf([cOut], 6)]);
    });
  }

  it('gradients through non-contiguous inputs and weights', () => {
    // x is built as the transpose of a [N, C, W, H] leaf; weight is every other filter of a larger leaf.
    gradcheck(
      (xt, wBig) => conv2d(transpose(xt, 2, 3), slice(wBig, 0, 0, 6, 2), null, { padding: 1, stride: [1, 2] }),
      [leaf([2, 3, 5, 4], 7), leaf([6, 3, 3, 2], 8)],
    );
    const xt = randn([2, 4, 6, 5], { dtype: 'f64', rng: new Rng(9) });
    const w = randn([4, 2, 2, 3], { dtype: 'f64', rng: new Rng(10) });
    const x = transpose(xt, 2, 3);
    assert.ok(!x.isContiguous());
    assertClose(conv2d(x, w, null, { groups: 2 }).toArray(), naiveConv2d(x, w, null, { groups: 2 }), 1e-12);
  });

  it('weight-only and input-only gradients', () => {
    const fixedX = randn([2, 2, 4, 4], { dtype: 'f64', rng: new Rng(11) });
    gradcheck((w) => conv2d(fixedX, w, null, { padding: 1 }), [leaf([3, 2, 3, 3], 12)]);
    const fixedW = randn([3, 2, 3, 3], { dtype: 'f64', rng: new Rng(13) });
    gradcheck((x) => conv2d(x, fixedW, null, { stride: 2 }), [leaf([1, 2, 5, 6], 14)]);
  });

  it('accepts an unbatched [C, H, W] input', () => {
    const x = randn([2, 4, 5], { dtype: 'f64', rng: new Rng(15) });
    const w = randn([3, 2, 2, 2], { dtype: 'f64', rng: new Rng(16) });
    const out = conv2d(x, w);
    assert.deepEqual(out.shape, [3, 3, 4]);
    assertClose(out.toArray(), naiveConv2d(tensor(x.toArray(), [1, 2, 4, 5], { dtype: 'f64' }), w, null, {}), 1e-12);
  });

  it('reports output shapes as PyTorch does', () => {
    const out = conv2d(zeros([2, 3, 32, 31]), zeros([8, 3, 5, 3]), null, {
      stride: [2, 3],
      padding: [2, 1],
      dilation: [1, 2],
    });
    // H: floor((32 + 4 - 4 - 1) / 2) + 1 = 16; W: floor((31 + 2 - 4 - 1) / 3) + 1 = 10
    assert.deepEqual(out.shape, [2, 8, 16, 10]);
  });

  it('rejects incompatible shapes and options', () => {
    const x = zeros([1, 4, 5, 5]);
    assert.throws(() => conv2d(x, zeros([2, 3, 3, 3])), ShapeError); // 3 input channels, input has 4
    assert.throws(() => conv2d(x, zeros([3, 2, 3, 3]), null, { groups: 2 }), ShapeError); // 3 outputs not divisible
    assert.throws(() => conv2d(x, zeros([2, 1, 3, 3]), null, { groups: 3 }), ShapeError); // 4 channels not divisible
    assert.throws(() => conv2d(x, zeros([2, 4, 6, 3])), ShapeError); // kernel taller than input
    assert.throws(() => conv2d(x, zeros([2, 4, 3, 3]), null, { dilation: 3 }), ShapeError); // dilated kernel spans 7
    assert.throws(() => conv2d(x, zeros([2, 4, 3, 3]), zeros([3])), ShapeError); // bias size
    assert.throws(() => conv2d(x, zeros([2, 4, 3, 3]), null, { stride: 0 }), ShapeError);
    assert.throws(() => conv2d(x, zeros([2, 4, 3, 3]), null, { padding: -1 }), ShapeError);
    assert.throws(() => conv2d(x, zeros([2, 4, 3, 3]), null, { groups: 1.5 }), ShapeError);
    assert.throws(() => conv2d(zeros([4, 5]), zeros([2, 4, 3, 3])), ShapeError); // rank 2 input
    assert.throws(() => conv2d(x, zeros([2, 4, 3])), ShapeError); // rank 3 weight
    assert.throws(() => conv2d(x, zeros([2, 4, 3, 3], { dtype: 'f64' })), DTypeError);
  });
});

describe('conv1d', () => {
  const cases1d: {
    name: string;
    x: number[];
    w: number[];
    options: { stride?: number; padding?: number; dilation?: number; groups?: number };
  }[] = [
    { name: 'plain', x: [2, 3, 7], w: [4, 3, 3], options: {} },
    {
      name: 'stride 2, padding 1, dilation 2',
      x: [2, 2, 9],
      w: [3, 2, 3],
      options: { stride: 2, padding: 1, dilation: 2 },
    },
    { name: 'depthwise', x: [1, 4, 6], w: [4, 1, 3], options: { groups: 4, padding: 1 } },
    { name: 'groups 2, odd length', x: [3, 4, 5], w: [2, 2, 2], options: { groups: 2, stride: 3 } },
    { name: 'all sizes 1', x: [1, 1, 1], w: [1, 1, 1], options: {} },
    { name: 'kernel spans input', x: [3, 1, 5], w: [2, 1, 5], options: {} },
  ];
  for (const c of cases1d) {
    const cOut = c.w[0];
    it(`${c.name}: forward matches direct loops and gradients check`, () => {
      const x = randn(c.x, { dtype: 'f64', rng: new Rng(21) });
      const w = randn(c.w, { dtype: 'f64', rng: new Rng(22) });
      const b = randn([cOut], { dtype: 'f64', rng: new Rng(23) });
      const out = conv1d(x, w, b, c.options);
      // A 1-D convolution is a 2-D one over a 1 × L image.
      const as2d = (t: Tensor) => tensor(t.toArray(), [t.shape[0], t.shape[1], 1, t.shape[2]], { dtype: 'f64' });
      const { stride = 1, padding = 0, dilation = 1, groups = 1 } = c.options;
      const expected = naiveConv2d(as2d(x), as2d(w), b, {
        stride: [1, stride],
        padding: [0, padding],
        dilation: [1, dilation],
        groups,
      });
      assert.equal(out.rank, 3);
      assertClose(out.toArray(), expected, 1e-12);
      gradcheck((xl, wl, bl) => conv1d(xl, wl, bl, c.options), [leaf(c.x, 24), leaf(c.w, 25), leaf([cOut], 26)]);
    });
  }

  it('gradients through a non-contiguous input', () => {
    // x: [N, C, L] read as the transpose of an [N, L, C] leaf
    gradcheck(
      (xt, w) => conv1d(transpose(xt, 1, 2), w, null, { padding: 2 }),
      [leaf([2, 7, 3], 27), leaf([2, 3, 4], 28)],
    );
  });

  it('accepts an unbatched [C, L] input and rejects bad shapes', () => {
    assert.deepEqual(conv1d(zeros([3, 8]), zeros([5, 3, 3]), zeros([5]), { padding: 1 }).shape, [5, 8]);
    assert.throws(() => conv1d(zeros([1, 3, 8]), zeros([5, 2, 3])), ShapeError);
    assert.throws(() => conv1d(zeros([1, 3, 2]), zeros([5, 3, 3])), ShapeError);
    assert.throws(() => conv1d(zeros([1, 3, 8]), zeros([5, 3, 3, 1])), ShapeError);
  });
});
