import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor } from '../../src/engine/tensor.js';
import { loadDecoder } from '../../src/io/checkpoint.js';
import { loadSafetensors } from '../../src/io/safetensors.js';
import type { DecoderForCausalLM } from '../../src/models/llama/model.js';
import type { Batch, Batcher } from '../../src/train/batches.js';
import { causalLmLoss, causalLmTokens } from '../../src/train/causal-lm.js';
import { type TrainRecord, train } from '../../src/train/loop.js';
import { AdamW } from '../../src/train/optim/adamw.js';
import { decayGroups } from '../../src/train/optim/optimizer.js';
import { cosineSchedule } from '../../src/train/schedule.js';

/** PyTorch's training of a tiny LLaMA, made by tools/make_train_golden.py. */
export const TRAIN_GOLDEN_DIR = fileURLToPath(new URL('../../../test/golden/train/', import.meta.url));

export interface TrainGolden {
  steps: number;
  batchSize: number;
  seqlen: number;
  hyper: {
    lr: number;
    betas: [number, number];
    eps: number;
    weightDecay: number;
    maxNorm: number;
    warmupSteps: number;
    totalSteps: number;
    minLrRatio: number;
  };
  /** Parameter names of torch's two AdamW groups, in order. */
  groups: { decayed: string[]; notDecayed: string[] };
  /** The loss of the initial model on batch 0, whose gradients are in grads.safetensors. */
  gradLoss: number;
  /** Per step (index 0 is step 1): the loss before the update, the first group's LR, the gradient norm before clipping. */
  loss: number[];
  lr: number[];
  gradNorm: number[];
}

export function loadTrainGolden(): TrainGolden {
  return JSON.parse(readFileSync(join(TRAIN_GOLDEN_DIR, 'loss-curve.json'), 'utf8')) as TrainGolden;
}

export function loadGoldenModel(): Promise<DecoderForCausalLM> {
  return loadDecoder(TRAIN_GOLDEN_DIR);
}

/** torch's gradients of the initial model on batch 0, by HF parameter name. */
export function loadGoldenGrads(): Map<string, Tensor> {
  return loadSafetensors(join(TRAIN_GOLDEN_DIR, 'grads.safetensors')).tensors;
}

/** The golden batches in order: step s trains on tokens[s, :, :-1] → tokens[s, :, 1:]. */
export class GoldenBatcher implements Batcher<Batch, { position: number }> {
  private readonly tokens: Int32Array;
  private readonly steps: number;
  private readonly batchSize: number;
  private readonly seqlen: number;
  private position = 0;

  constructor() {
    const tokens = loadSafetensors(join(TRAIN_GOLDEN_DIR, 'batches.safetensors')).tensors.get('tokens');
    if (tokens?.dtype !== 'i32' || tokens.rank !== 3) throw new Error('batches.safetensors: no i32 tokens');
    [this.steps, this.batchSize, this.seqlen] = [tokens.shape[0], tokens.shape[1], tokens.shape[2] - 1];
    this.tokens = tokens.dataSync() as Int32Array;
  }

  /** Batch `index` (0-based), without moving the position. */
  batch(index: number): Batch {
    if (index >= this.steps) throw new Error(`the golden holds ${this.steps} batches, asked for batch ${index}`);
    const { batchSize: b, seqlen: t } = this;
    const inputs = new Int32Array(b * t);
    const targets = new Int32Array(b * t);
    for (let row = 0; row < b; row++) {
      const start = (index * b + row) * (t + 1);
      inputs.set(this.tokens.subarray(start, start + t), row * t);
      targets.set(this.tokens.subarray(start + 1, start + t + 1), row * t);
    }
    return { inputs: new Tensor(inputs, [b, t], 'i32'), targets: new Tensor(targets, [b, t], 'i32') };
  }

  next(): Batch {
    return this.batch(this.position++);
  }

  getState(): { position: number } {
    return { position: this.position };
  }

  setState(state: { position: number }): void {
    this.position = state.position;
  }
}

/** What lithe's optimiser looks like for the golden run, to check against torch's groups. */
export interface GoldenRun {
  records: TrainRecord[];
  groups: { decayed: string[]; notDecayed: string[] };
}

/**
 * lithe's `train()` on the golden model and batches for the first `steps` steps, with torch's
 * hyperparameters: AdamW over decayGroups, warmup + cosine to minLrRatio, clipping; every step logged.
 */
export async function trainOnGolden(golden: TrainGolden, steps: number): Promise<GoldenRun> {
  const { hyper } = golden;
  const model = await loadGoldenModel();
  const optimizer = new AdamW(decayGroups(model, { weightDecay: hyper.weightDecay }), {
    lr: hyper.lr,
    betas: hyper.betas,
    eps: hyper.eps,
  });
  const schedule = cosineSchedule({
    warmupSteps: hyper.warmupSteps,
    totalSteps: hyper.totalSteps,
    minLrRatio: hyper.minLrRatio,
  });
  const records: TrainRecord[] = [];
  await train(model, new GoldenBatcher(), {
    loss: causalLmLoss,
    tokens: causalLmTokens,
    optimizer,
    schedule,
    steps,
    clipNorm: hyper.maxNorm,
    logEvery: 1,
    onLog: (record) => records.push(record),
  });
  const [decayed, notDecayed] = optimizer.groups.map((g) => [...(g.names ?? [])]);
  return { records, groups: { decayed, notDecayed } };
}

/** |actual − expected| / |expected|. */
export function relativeDiff(actual: number, expected: number): number {
  return Math.abs(actual - expected) / Math.abs(expected);
}

/** The gradient metric: max |lithe − torch| over a tensor, divided by max |torch| over it. */
export function tensorRelativeError(actual: Float32Array | Float64Array, expected: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return diff / scale;
}
