import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { randn } from '../../src/engine/create.js';
import { dequantize, quantize } from '../../src/engine/quant/quantized-tensor.js';
import { Rng } from '../../src/engine/rng.js';
import { Sequential } from '../../src/nn/containers.js';
import { Linear } from '../../src/nn/linear.js';
import { LowRankLinear } from '../../src/nn/low-rank-linear.js';
import { dequantizeLinears, QuantLinear, quantizedWeightOf, quantizeLinears } from '../../src/nn/quant-linear.js';
import { stateDict } from '../../src/nn/state-dict.js';
import { mul } from '../../src/ops/elementwise.js';
import { linear } from '../../src/ops/matmul.js';
import { sum } from '../../src/ops/reduce.js';
import { assertClose } from '../helpers/gradcheck.js';

describe('QuantLinear', () => {
  const rng = new Rng(3);
  const weight = randn([24, 40], { rng, std: 0.1 });
  const bias = randn([24], { rng });

  it('computes x·Ŵᵀ + b and gives dX and dW as the dense Linear over Ŵ does', () => {
    const q = quantize(weight, 'int8', { groupSize: 16 });
    const layer = new QuantLinear(q, bias.clone().requiresGrad_());
    const dense = dequantize(q).requiresGrad_();
    const denseBias = bias.clone().requiresGrad_();
    const x = randn([3, 5, 40], { rng }).requiresGrad_();
    const xDense = x.detach().requiresGrad_();
    const c = randn([3, 5, 24], { rng });
    const y = layer.forward(x);
    const yDense = linear(xDense, dense, denseBias);
    assertClose(y.floatData(), yDense.floatData(), 1e-5);
    sum(mul(y, c)).backward();
    sum(mul(yDense, c)).backward();
    assertClose(x.grad!.floatData(), xDense.grad!.floatData(), 1e-5);
    assertClose(layer.weightGrad.grad!.floatData(), dense.grad!.floatData(), 1e-5);
    assertClose(layer.bias!.grad!.floatData(), denseBias.grad!.floatData(), 1e-5);
    assert.equal(quantizedWeightOf(layer.weightGrad), q);
  });

  it('records the weight gradient even when its input needs none', () => {
    const layer = new QuantLinear(quantize(weight, 'int8'));
    sum(layer.forward(randn([2, 40], { rng }))).backward();
    assert.deepEqual(layer.weightGrad.grad?.shape, [24, 40]);
  });

  it('keeps its codes as state and stores the dequantised weight in a checkpoint', () => {
    const q = quantize(weight, 'int8');
    const layer = new QuantLinear(q, bias);
    assert.deepEqual([...stateDict(layer).keys()].sort(), ['bias', 'weight_codes', 'weight_scales', 'weight_zeros']);
    const stored = layer.namedCheckpointState();
    assert.deepEqual([...stored.keys()], ['weight', 'bias']);
    assert.deepEqual(stored.get('weight')?.floatData(), dequantize(q).floatData());
    // A loaded buffer writes the codes the GEMM reads.
    const other = quantize(randn([24, 40], { rng }), 'int8');
    layer.setBuffer('weight_codes', new QuantLinear(other).namedBuffers().get('weight_codes')!);
    assert.deepEqual(q.codes, other.codes);
  });

  it('quantizeLinears swaps the chosen Linears in place and dequantizeLinears swaps them back', () => {
    const model = new Sequential(new Linear(40, 24, { rng, bias: true }), new Linear(24, 8, { rng }));
    const before = [...model.parameters()].map((p) => p.floatData());
    assert.deepEqual(quantizeLinears(model, { select: (name) => name === '0' }), ['0']);
    const [first, second] = [...model.namedModules()].slice(1).map(([, m]) => m);
    assert.ok(first instanceof QuantLinear && second instanceof Linear);
    assert.deepEqual([...model.namedParameters().keys()], ['0.bias', '1.weight']);
    dequantizeLinears(model);
    const after = [...model.parameters()].map((p) => p.floatData());
    assert.deepEqual(after[1], before[1]);
    assert.deepEqual(after[2], before[2]);
    // int8 in groups of 256 along rows of 40: within half a step of each group's scale.
    let worst = 0;
    for (let i = 0; i < before[0].length; i++) worst = Math.max(worst, Math.abs(after[0][i] - before[0][i]));
    assert.ok(worst > 0 && worst < 0.005, `dequantised weight off by ${worst}`);
  });

  it("zeroGrad drops the weight's gradient as well as the bias's", () => {
    const layer = new QuantLinear(quantize(weight, 'int8'), bias.clone().requiresGrad_());
    sum(layer.forward(randn([2, 40], { rng }))).backward();
    assert.ok(layer.weightGrad.grad && layer.bias?.grad);
    layer.zeroGrad();
    assert.equal(layer.weightGrad.grad, null);
    assert.equal(layer.bias?.grad, null);
  });

  it('a quantised factor of a LowRankLinear is the one its forward runs; merging then asks for dense factors', () => {
    const factorised = new LowRankLinear(40, 24, 6, { rng });
    const x = randn([3, 40], { rng });
    quantizeLinears(factorised, { select: (name) => name === 'U' });
    const u = [...factorised.namedModules()].find(([name]) => name === 'U')?.[1] as QuantLinear;
    const expected = linear(linear(x, factorised.v.weight), dequantize(u.weight));
    assertClose(factorised.forward(x).floatData(), expected.floatData(), 1e-5);
    assert.throws(() => factorised.u, /factor U is no longer a dense Linear/);
  });
});
