import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  applyMask,
  InputStats,
  maskSparsity,
  nmMask,
  outlierRatio,
  sparsegptPrune,
  unstructuredMask,
  wandaScores,
} from '../../src/compress/prune/index.js';
import { noGrad } from '../../src/engine/autograd.js';
import { randn } from '../../src/engine/create.js';
import { Rng } from '../../src/engine/rng.js';
import { loadDecoder } from '../../src/io/checkpoint.js';
import type { Linear } from '../../src/nn/linear.js';
import { assign_ } from '../../src/ops/assign.js';
import { dense } from '../helpers/dense-linear.js';

const llamaDir = fileURLToPath(new URL('../../../test/golden/models/llama', import.meta.url));

describe('pruning the Linears of a real decoder block', () => {
  it('prunes every Linear of block 0 in place and the model still runs', async () => {
    const model = await loadDecoder(llamaDir);
    const { selfAttn, mlp } = model.model.layers[0];
    const linears: Linear[] = [
      selfAttn.qProj,
      selfAttn.kProj,
      selfAttn.vProj,
      selfAttn.oProj,
      mlp.gateProj,
      mlp.upProj,
      mlp.downProj,
    ].map(dense);
    // Stand-in calibration activations of each Linear's input width (the pipeline will record real ones).
    const rng = new Rng(5);
    const stats = linears.map((linear) => {
      const s = new InputStats(linear.weight.shape[1], { hessian: true });
      s.add(randn([64, linear.weight.shape[1]], { rng }));
      return s;
    });
    const scores = linears.map((linear, i) => wandaScores(linear.weight, stats[i].normsSq));
    const ratio = outlierRatio(scores, 3);
    assert.ok(ratio >= 0 && ratio < 100);

    const [q, k, , , gate] = linears;
    applyMask(q.weight, unstructuredMask(scores[0], 0.5));
    applyMask(k.weight, nmMask(scores[1], 2, 4));
    const { weight, mask } = sparsegptPrune(gate.weight, stats[4].hessian(), { sparsity: 0.5 });
    assign_(gate.weight, weight);
    const zeros = (linear: Linear) => linear.weight.toArray().filter((v) => v === 0).length / linear.weight.size;
    assert.equal(zeros(q), 0.5);
    assert.equal(zeros(k), 0.5);
    assert.ok(zeros(gate) >= maskSparsity(mask) && maskSparsity(mask) >= 0.5);

    const logits = noGrad(() => model.forward([[1, 2, 3, 4]]));
    assert.deepEqual(logits.shape, [1, 4, 64]);
    assert.ok(logits.toArray().every(Number.isFinite));
  });
});
