import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ShapeError } from '../../src/engine/errors.js';
import { Rng } from '../../src/engine/rng.js';
import { Conv1d, Conv2d } from '../../src/nn/conv.js';
import type { Size2 } from '../../src/ops/conv.js';
import { gradcheck, leaf } from '../helpers/gradcheck.js';
import { checkStep, loadNnGolden, loadParams } from '../helpers/nn-golden.js';

const asSize2 = (v: unknown): Size2 | undefined => (v === undefined ? undefined : (v as Size2));

describe('Conv1d and Conv2d match torch.nn', () => {
  for (const golden of loadNnGolden('Conv1d')) {
    it(golden.name, () => {
      const [inC, outC, k] = golden.args as number[];
      const conv = new Conv1d(inC, outC, k, { ...golden.options, init: false });
      loadParams(conv, golden);
      for (const step of golden.steps) checkStep(conv, step);
    });
  }
  for (const golden of loadNnGolden('Conv2d')) {
    it(golden.name, () => {
      const [inC, outC, k] = golden.args as [number, number, Size2];
      const { stride, padding, dilation, ...rest } = golden.options;
      const conv = new Conv2d(inC, outC, k, {
        ...rest,
        stride: asSize2(stride),
        padding: asSize2(padding),
        dilation: asSize2(dilation),
        init: false,
      });
      loadParams(conv, golden);
      for (const step of golden.steps) checkStep(conv, step);
    });
  }
});

describe('Conv1d and Conv2d', () => {
  it("name their parameters as torch and draw torch's default U(-1/√fanIn, 1/√fanIn) from the seeded generator", () => {
    const conv = new Conv2d(4, 6, [3, 2], { groups: 2, rng: new Rng(7) });
    assert.deepEqual(
      [...conv.namedParameters()].map(([n, t]) => [n, t.shape]),
      [
        ['weight', [6, 2, 3, 2]],
        ['bias', [6]],
      ],
    );
    const bound = 1 / Math.sqrt(2 * 3 * 2);
    const values = [...conv.weight.toArray(), ...(conv.bias?.toArray() ?? [])];
    assert.ok(values.every((v) => Math.abs(v) <= bound));
    assert.ok(Math.max(...values.map(Math.abs)) > 0.8 * bound, 'the draws fill the range');
    const again = new Conv2d(4, 6, [3, 2], { groups: 2, rng: new Rng(7) });
    assert.deepEqual(again.weight.toArray(), conv.weight.toArray());
    assert.deepEqual(new Conv1d(2, 3, 4, { init: false, bias: false }).weight.toArray(), new Array(24).fill(0));
    assert.equal(new Conv1d(2, 3, 4, { bias: false }).bias, null);
  });

  it('accept an unbatched input and pass gradients to input, weight and bias (f64 gradcheck)', () => {
    const conv = new Conv1d(2, 4, 3, { stride: 2, padding: 1, dilation: 2, groups: 2, dtype: 'f64', rng: new Rng(1) });
    assert.deepEqual(conv.forward(leaf([2, 9], 3)).shape, [4, 4]);
    // f64 parameters are leaves the check perturbs in place, beside the input.
    const bias = conv.bias;
    assert.ok(bias);
    gradcheck((x) => conv.forward(x), [leaf([2, 2, 9], 4), conv.weight, bias]);
    const conv2 = new Conv2d(2, 2, [2, 3], { stride: [2, 1], padding: [1, 0], dilation: [1, 2], dtype: 'f64' });
    gradcheck((x) => conv2.forward(x), [leaf([1, 2, 4, 6], 5), conv2.weight]);
  });

  it('reject groups that do not divide the channels, and a bad kernel size', () => {
    assert.throws(() => new Conv1d(3, 4, 3, { groups: 2 }), ShapeError);
    assert.throws(() => new Conv1d(3, 4, 0), ShapeError);
    assert.throws(() => new Conv2d(2, 2, [3, 0]), ShapeError);
  });
});
