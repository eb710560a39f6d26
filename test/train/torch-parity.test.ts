import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { crossEntropy } from '../../src/ops/loss.js';
import {
  GoldenBatcher,
  loadGoldenGrads,
  loadGoldenModel,
  loadTrainGolden,
  relativeDiff,
  tensorRelativeError,
  trainOnGolden,
} from '../helpers/train-golden.js';

const golden = loadTrainGolden();
/** Steps replayed here; bench/check-train.ts replays all of them. */
const PREFIX = 30;

describe('training matches PyTorch on a tiny LLaMA (test/golden/train, tools/make_train_golden.py)', () => {
  it('gradients of a full forward/backward are within 1e-4 of torch (max |Δ| / max |g| per tensor)', async (t) => {
    const model = await loadGoldenModel();
    const { inputs, targets } = new GoldenBatcher().batch(0);
    const loss = crossEntropy(model.forward(inputs), targets);
    assert.ok(relativeDiff(loss.item(), golden.gradLoss) < 1e-6, `loss ${loss.item()} vs torch ${golden.gradLoss}`);
    loss.backward();
    const expected = loadGoldenGrads();
    const params = model.namedParameters();
    assert.deepEqual([...params.keys()].sort(), [...expected.keys()].sort());
    let worst = 0;
    for (const [name, p] of params) {
      assert.ok(p.grad, `${name} has no gradient`);
      const error = tensorRelativeError(p.grad.floatData(), expected.get(name)!.floatData() as Float32Array);
      assert.ok(error < 1e-4, `${name}: relative error ${error.toExponential(2)}`);
      worst = Math.max(worst, error);
    }
    t.diagnostic(`largest gradient relative error ${worst.toExponential(2)}`);
  });

  it(`the first ${PREFIX} steps' losses are within 1% of torch's, with the same LRs, gradient norms and decay groups`, async (t) => {
    const { records, groups } = await trainOnGolden(golden, PREFIX);
    assert.deepEqual(groups, golden.groups);
    assert.equal(records.length, PREFIX);
    let worst = 0;
    for (const r of records) {
      const i = r.step - 1;
      assert.ok(Math.abs(r.lr - golden.lr[i]) < 1e-15, `step ${r.step}: lr ${r.lr} vs torch ${golden.lr[i]}`);
      const rel = relativeDiff(r.loss, golden.loss[i]);
      assert.ok(rel < 0.01, `step ${r.step}: loss ${r.loss} vs torch ${golden.loss[i]} (${(rel * 100).toFixed(3)}%)`);
      worst = Math.max(worst, rel);
      // Far tighter than the loss bound: a missing weight decay or a wrong beta or eps moves it by > 1e-4 within 30 steps.
      const norm = relativeDiff(r.gradNorm ?? Number.NaN, golden.gradNorm[i]);
      assert.ok(norm < 1e-4, `step ${r.step}: gradient norm ${r.gradNorm} vs torch ${golden.gradNorm[i]}`);
    }
    t.diagnostic(`largest loss relative difference ${worst.toExponential(2)}`);
  });
});
