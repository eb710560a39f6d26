import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { randn } from '../../src/engine/create.js';
import { Rng } from '../../src/engine/rng.js';
import { LowRankLinear } from '../../src/nn/low-rank-linear.js';
import { linear, matmul } from '../../src/ops/matmul.js';
import { sum } from '../../src/ops/reduce.js';

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describe('LowRankLinear', () => {
  it('names its factors U and V (U carries the bias) and computes x·(U·V)ᵀ + b', () => {
    const rng = new Rng(3);
    const layer = new LowRankLinear(12, 10, 4, { bias: true, rng });
    assert.deepEqual([...layer.namedParameters().keys()].sort(), ['U.bias', 'U.weight', 'V.weight']);
    assert.deepEqual(layer.u.weight.shape, [10, 4]);
    assert.deepEqual(layer.v.weight.shape, [4, 12]);
    layer.setParameter('U.bias', randn([10], { rng }));
    const x = randn([2, 3, 12], { rng });
    const dense = linear(x, matmul(layer.u.weight, layer.v.weight), layer.bias);
    assert.ok(maxAbsDiff(layer.forward(x).floatData(), dense.floatData()) < 1e-5);
  });

  it('trains both factors: the gradient reaches U and V', () => {
    const layer = new LowRankLinear(6, 5, 2, { rng: new Rng(1) });
    sum(layer.forward(randn([4, 6], { rng: new Rng(2) }))).backward();
    assert.ok(layer.u.weight.grad && layer.v.weight.grad);
    assert.ok(layer.v.weight.grad.floatData().some((g) => g !== 0));
  });
});
