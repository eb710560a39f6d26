import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { noGrad } from '../../src/engine/autograd.js';
import { tensor } from '../../src/engine/create.js';
import { ShapeError } from '../../src/engine/errors.js';
import { type BatchNorm, BatchNorm1d, BatchNorm2d, type BatchNormOptions } from '../../src/nn/batchnorm.js';
import { sum } from '../../src/ops/reduce.js';
import { assertClose, gradcheck, leaf } from '../helpers/gradcheck.js';
import { checkStep, loadNnGolden, loadParams } from '../helpers/nn-golden.js';

const variants: Record<string, new (features: number, options?: BatchNormOptions) => BatchNorm> = {
  BatchNorm1d,
  BatchNorm2d,
};

describe('BatchNorm matches torch.nn through training steps and evaluation', () => {
  for (const [kind, Variant] of Object.entries(variants)) {
    for (const golden of loadNnGolden(kind)) {
      it(golden.name, () => {
        const bn = new Variant(golden.args[0] as number, golden.options as BatchNormOptions);
        loadParams(bn, golden);
        bn.train();
        for (const step of golden.steps) {
          checkStep(bn, step);
          assertClose(bn.runningMean?.toArray() ?? [], step.running_mean ?? [], 1e-5, 1e-5);
          assertClose(bn.runningVar?.toArray() ?? [], step.running_var ?? [], 1e-5, 1e-5);
          assert.equal(bn.numBatchesTracked?.item(), step.num_batches_tracked);
        }
        bn.eval();
        assert.ok(golden.eval);
        checkStep(bn, golden.eval);
      });
    }
  }
});

describe('BatchNorm', () => {
  it("registers torch's parameter and buffer names, all buffers persistent", () => {
    const bn = new BatchNorm2d(3);
    assert.deepEqual([...bn.namedParameters().keys()], ['weight', 'bias']);
    assert.deepEqual(
      [...bn.namedBuffers({ persistentOnly: true })].map(([n, t]) => [n, t.shape, t.dtype]),
      [
        ['running_mean', [3], 'f32'],
        ['running_var', [3], 'f32'],
        ['num_batches_tracked', [], 'i32'],
      ],
    );
    const plain = new BatchNorm1d(3, { affine: false, trackRunningStats: false });
    assert.equal(plain.namedParameters().size + plain.namedBuffers().size, 0);
  });

  it('updates the running statistics off the tape, also under noGrad', () => {
    const bn = new BatchNorm1d(2);
    const x = tensor([1, 2, 3, 6], [2, 2]).requiresGrad_();
    const y = bn.forward(x);
    for (const t of bn.namedBuffers().values()) {
      assert.equal(t.gradNode, null);
      assert.equal(t.requiresGrad, false);
    }
    // Batch means [2, 4], unbiased variances [2, 8].
    assertClose(bn.runningMean?.toArray() ?? [], [0.2, 0.4]);
    assertClose(bn.runningVar?.toArray() ?? [], [0.9 + 0.2, 0.9 + 0.8]);
    sum(y).backward();
    assert.ok(x.grad, 'the output is still on the tape');
    noGrad(() => bn.forward(x));
    assert.equal(bn.numBatchesTracked?.item(), 2);
    bn.eval();
    bn.forward(x);
    assert.equal(bn.numBatchesTracked?.item(), 2, 'evaluation leaves the statistics alone');
  });

  it('passes gradients through the batch statistics to input, weight and bias (f64 gradcheck)', () => {
    for (const [bn, shape] of [
      [new BatchNorm1d(3, { dtype: 'f64' }), [4, 3]],
      [new BatchNorm1d(2, { dtype: 'f64' }), [3, 2, 2]],
      [new BatchNorm2d(2, { dtype: 'f64', eps: 1e-3 }), [2, 2, 2, 3]],
    ] as const) {
      const { weight, bias } = bn;
      assert.ok(weight && bias);
      bn.setParameter('weight', tensor([1.5, -0.5, 2].slice(0, weight.size), [weight.size], { dtype: 'f64' }));
      bn.setParameter('bias', tensor([0.1, 0.2, -0.3].slice(0, bias.size), [bias.size], { dtype: 'f64' }));
      gradcheck((x) => bn.forward(x), [leaf([...shape], 11, 2), weight, bias]);
      bn.eval();
      gradcheck((x) => bn.forward(x), [leaf([...shape], 12, 2), weight, bias]);
    }
  });

  it('uses batch statistics in evaluation without running statistics, and rejects bad inputs', () => {
    const bn = new BatchNorm1d(2, { trackRunningStats: false, affine: false }).eval();
    assertClose(bn.forward(tensor([1, 2, 3, 6], [2, 2])).toArray(), [-1, -1, 1, 1], 1e-4);
    const trained = new BatchNorm1d(2);
    assert.throws(() => trained.forward(tensor([1, 2], [1, 2])), /more than 1 value per channel/);
    assert.throws(() => trained.forward(tensor([1, 2, 3], [1, 3])), ShapeError);
    assert.throws(() => new BatchNorm2d(2).forward(tensor([1, 2, 3, 4], [2, 2])), ShapeError);
  });
});
