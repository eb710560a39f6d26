/**
 * lithe's training against PyTorch's: the full run recorded in test/golden/train/ (made by
 * tools/make_train_golden.py) replayed with lithe's train() from the same initial weights on the same
 * batches. Prints every 10th step's losses and the largest relative differences; exits 1 when any
 * step's loss is more than 1% off torch's, or a gradient of the initial model more than 1e-4.
 * Needs no Python: the golden is committed.
 */
import { crossEntropy } from '../src/ops/loss.js';
import {
  GoldenBatcher,
  loadGoldenGrads,
  loadGoldenModel,
  loadTrainGolden,
  relativeDiff,
  tensorRelativeError,
  trainOnGolden,
} from '../test/helpers/train-golden.js';

const LOSS_LIMIT = 0.01;
const GRAD_LIMIT = 1e-4;
const golden = loadTrainGolden();

// Gradients of one full forward/backward of the initial model, per tensor: max |Δ| / max |g_torch|.
const model = await loadGoldenModel();
const { inputs, targets } = new GoldenBatcher().batch(0);
crossEntropy(model.forward(inputs), targets).backward();
const grads = loadGoldenGrads();
let worstGrad = { name: '', error: 0 };
for (const [name, p] of model.namedParameters()) {
  const expected = grads.get(name);
  const error =
    p.grad && expected ? tensorRelativeError(p.grad.floatData(), expected.floatData() as Float32Array) : Infinity;
  if (!(error <= worstGrad.error)) worstGrad = { name, error };
}
console.log(
  `gradients (${grads.size} tensors): largest relative error ${worstGrad.error.toExponential(2)} in ${worstGrad.name} (limit ${GRAD_LIMIT})`,
);

const start = performance.now();
const { records, groups } = await trainOnGolden(golden, golden.steps);
const seconds = (performance.now() - start) / 1000;
const sameGroups = JSON.stringify(groups) === JSON.stringify(golden.groups);
if (!sameGroups) console.log("decay groups differ from torch's");

console.log(
  `\n${'step'.padStart(5)} ${'torch loss'.padStart(12)} ${'lithe loss'.padStart(12)} ${'rel diff'.padStart(10)}`,
);
let worstLoss = { step: 0, rel: 0 };
let worstNorm = 0;
let worstLr = 0;
for (const r of records) {
  const i = r.step - 1;
  const rel = relativeDiff(r.loss, golden.loss[i]);
  if (!(rel <= worstLoss.rel)) worstLoss = { step: r.step, rel };
  worstNorm = Math.max(worstNorm, relativeDiff(r.gradNorm ?? Number.NaN, golden.gradNorm[i]));
  worstLr = Math.max(worstLr, Math.abs(r.lr - golden.lr[i]));
  if (r.step === 1 || r.step % 10 === 0) {
    console.log(
      `${String(r.step).padStart(5)} ${golden.loss[i].toFixed(6).padStart(12)} ${r.loss.toFixed(6).padStart(12)} ${rel.toExponential(2).padStart(10)}`,
    );
  }
}
const steps = records.length;
console.log(
  `\n${steps} steps in ${seconds.toFixed(1)} s; loss ${golden.loss[0].toFixed(4)} -> ${golden.loss[steps - 1].toFixed(4)} (torch)`,
);
console.log(
  `largest loss relative difference:      ${worstLoss.rel.toExponential(2)} at step ${worstLoss.step} (limit 1%)`,
);
console.log(`largest grad-norm relative difference: ${worstNorm.toExponential(2)}`);
console.log(`largest LR difference:                 ${worstLr.toExponential(2)}`);
const ok =
  sameGroups &&
  steps === golden.steps &&
  worstLoss.rel <= LOSS_LIMIT &&
  worstGrad.error <= GRAD_LIMIT &&
  worstLr < 1e-15;
console.log(ok ? 'check:train OK' : 'check:train FAILED');
process.exit(ok ? 0 : 1);
