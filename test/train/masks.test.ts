import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pruneModel } from '../../src/compress/prune/pipeline.js';
import { Rng } from '../../src/engine/rng.js';
import { Tensor } from '../../src/engine/tensor.js';
import { loadDecoder } from '../../src/io/checkpoint.js';
import { withOutputDir } from '../../src/io/output-dir.js';
import { parseDecoderConfig } from '../../src/models/llama/config.js';
import { DecoderForCausalLM } from '../../src/models/llama/model.js';
import { Linear } from '../../src/nn/linear.js';
import { mul, sub } from '../../src/ops/elementwise.js';
import { crossEntropy } from '../../src/ops/loss.js';
import { sum } from '../../src/ops/reduce.js';
import { TokenBatcher } from '../../src/train/batches.js';
import { loadTrainingCheckpoint, saveTrainingCheckpoint } from '../../src/train/checkpoint.js';
import { AdamW } from '../../src/train/optim/adamw.js';
import { decayGroups } from '../../src/train/optim/optimizer.js';
import { SGD } from '../../src/train/optim/sgd.js';
import { dense } from '../helpers/dense-linear.js';

const work = mkdtempSync(join(tmpdir(), 'lithe-masks-'));
after(() => rmSync(work, { recursive: true, force: true }));

const random = (rng: Rng, shape: number[]) =>
  new Tensor(
    Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => rng.normal()),
    shape,
    'f32',
  );

/** Indices where `values` is exactly zero. */
const zerosOf = (values: ArrayLike<number>) => Array.from(values, (v, i) => (v === 0 ? i : -1)).filter((i) => i >= 0);

describe('masks through optimiser steps', () => {
  for (const kind of ['AdamW', 'SGD'] as const) {
    it(`${kind} (weight decay on) keeps exactly a masked Linear's zeros for 100 steps; its moments there stay 0`, () => {
      const rng = new Rng(3);
      const fc = new Linear(8, 6, { rng, initStd: 0.5 });
      const keep = Uint8Array.from({ length: 48 }, (_, i) => ((i * 7) % 5 < 2 ? 0 : 1));
      fc.setMask(new Tensor(keep, [6, 8], 'bool'));
      const pruned = zerosOf(keep);
      const optimizer =
        kind === 'AdamW'
          ? new AdamW(fc.namedParameters(), { lr: 1e-2, weightDecay: 0.1 })
          : new SGD(fc.namedParameters(), { lr: 1e-2, momentum: 0.9, weightDecay: 0.1 });
      const x = random(rng, [4, 8]);
      const y = random(rng, [4, 6]);
      for (let step = 0; step < 100; step++) {
        optimizer.zeroGrad();
        const diff = sub(fc.forward(x), y);
        sum(mul(diff, diff)).backward();
        // The gradient reaches the masked weights: only the optimiser keeps them at zero.
        assert.ok(zerosOf(fc.weight.grad?.floatData() ?? []).length < pruned.length);
        optimizer.step();
        assert.deepEqual(zerosOf(fc.weight.floatData()), pruned, `step ${step}`);
      }
      const { buffers } = optimizer.stateDict();
      for (const [key, buffer] of Object.entries(buffers)) {
        if (!key.startsWith('0.')) continue;
        const values = buffer.toArray();
        for (const i of pruned) assert.equal(values[i], 0, `${key}[${i}]`);
      }
      const bias = fc.bias?.floatData() ?? [];
      assert.equal(zerosOf(bias).length, 0, 'the unmasked bias trains');
    });
  }
});

const config = parseDecoderConfig({
  architectures: ['LlamaForCausalLM'],
  vocab_size: 64,
  hidden_size: 16,
  intermediate_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  max_position_embeddings: 64,
  dtype: 'float32',
});
const stream = Int32Array.from({ length: 600 }, (_, i) => (i * 37 + ((i * i) >> 3)) % 64);

function blockWeights(model: DecoderForCausalLM): Map<string, Float32Array> {
  return new Map(
    [...model.namedParameters()]
      .filter(([name]) => name.includes('_proj'))
      .map(([name, t]) => [name, Float32Array.from(t.floatData())]),
  );
}

async function trainSteps(model: DecoderForCausalLM, optimizer: AdamW, batcher: TokenBatcher, steps: number) {
  for (let i = 0; i < steps; i++) {
    const { inputs, targets } = batcher.next();
    optimizer.zeroGrad();
    crossEntropy(model.forward(inputs), targets).backward();
    optimizer.step();
  }
}

describe('masks through save, load and resume', () => {
  it('a 50%-pruned decoder: 4 steps, checkpoint, load + resume for 4 equals 8 straight steps, zeros unchanged', async () => {
    const pruned = async () => {
      const model = new DecoderForCausalLM(config, { seed: 1 });
      await pruneModel(model, { method: 'magnitude', sparsity: 0.5 });
      return model;
    };
    const setUp = (model: DecoderForCausalLM) => ({
      optimizer: new AdamW(decayGroups(model, { weightDecay: 0.1 }), { lr: 1e-2 }),
      batcher: new TokenBatcher(stream, { batchSize: 2, seqlen: 16, seed: 9 }),
    });
    const straight = await pruned();
    const zerosBefore = new Map([...blockWeights(straight)].map(([n, w]) => [n, zerosOf(w)]));
    const s = setUp(straight);
    await trainSteps(straight, s.optimizer, s.batcher, 8);

    const first = await pruned();
    const f = setUp(first);
    await trainSteps(first, f.optimizer, f.batcher, 4);
    const out = join(work, 'run');
    await withOutputDir(out, { kind: 'train-run' }, (dir) =>
      saveTrainingCheckpoint(dir, 'checkpoint', first, f.optimizer, {
        step: 4,
        elapsedSeconds: 0,
        batcher: f.batcher.getState(),
      }),
    );
    const saved = JSON.parse(readFileSync(join(out, 'checkpoint', 'config.json'), 'utf8'));
    assert.equal(saved.sparsity.method, 'magnitude');
    assert.equal(Object.keys(saved.sparsity.modules).length, 14);

    // A fresh process's view: the model from the checkpoint directory (masks rebuilt from the record), then resume.
    const resumed = await loadDecoder(join(out, 'checkpoint'));
    const linear = dense(resumed.model.layers[0].mlp.downProj);
    assert.ok(linear.mask, 'the mask is rebuilt on load');
    const r = setUp(resumed);
    const loop = loadTrainingCheckpoint(join(out, 'checkpoint'), resumed, r.optimizer);
    r.batcher.setState(loop.batcher as never);
    await trainSteps(resumed, r.optimizer, r.batcher, 4);

    assert.deepEqual(blockWeights(resumed), blockWeights(straight));
    for (const [name, w] of blockWeights(resumed)) assert.deepEqual(zerosOf(w), zerosBefore.get(name), name);
  });
});
