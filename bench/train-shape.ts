/**
 * What the training benchmarks share: llama-ref's configuration at seq 256 × batch 16, uniform random tokens (a step's
 * speed does not depend on the text), and running one side of a comparison in its own process (so that its peak RSS
 * is its own).
 */
import { spawnSync } from 'node:child_process';
import { Rng } from '../src/engine/rng.js';
import { Tensor } from '../src/engine/tensor.js';
import { type DecoderConfig, parseDecoderConfig } from '../src/models/llama/config.js';
import type { DecoderForCausalLM } from '../src/models/llama/model.js';
import type { Module } from '../src/nn/module.js';
import type { Batch, Batcher } from '../src/train/batches.js';
import { causalLmLoss, causalLmTokens } from '../src/train/causal-lm.js';
import { type LossFn, type TrainOptimizer, train } from '../src/train/loop.js';

export const SHAPE = {
  layers: 8,
  hidden: 384,
  heads: 6,
  kvHeads: 2,
  intermediate: 1024,
  vocab: 8192,
  seqlen: 256,
  batch: 16,
};

/** llama-ref's configuration in f32, as the benchmarks build it from random weights. */
export function benchConfig(): DecoderConfig {
  return parseDecoderConfig({
    architectures: ['LlamaForCausalLM'],
    vocab_size: SHAPE.vocab,
    hidden_size: SHAPE.hidden,
    intermediate_size: SHAPE.intermediate,
    num_hidden_layers: SHAPE.layers,
    num_attention_heads: SHAPE.heads,
    num_key_value_heads: SHAPE.kvHeads,
    head_dim: SHAPE.hidden / SHAPE.heads,
    max_position_embeddings: 1024,
    rms_norm_eps: 1e-5,
    rope_parameters: { rope_type: 'default', rope_theta: 10000 },
    dtype: 'float32',
  });
}

/** Uniform random tokens: the speed of a step does not depend on the text. */
export class RandomTokens implements Batcher<Batch, null> {
  private readonly rng = new Rng(0);
  next(): Batch {
    const { batch: b, seqlen: t, vocab } = SHAPE;
    const window = new Int32Array(b * (t + 1));
    for (let i = 0; i < window.length; i++) window[i] = this.rng.int(vocab);
    const inputs = new Int32Array(b * t);
    const targets = new Int32Array(b * t);
    for (let row = 0; row < b; row++) {
      inputs.set(window.subarray(row * (t + 1), row * (t + 1) + t), row * t);
      targets.set(window.subarray(row * (t + 1) + 1, (row + 1) * (t + 1)), row * t);
    }
    return { inputs: new Tensor(inputs, [b, t], 'i32'), targets: new Tensor(targets, [b, t], 'i32') };
  }
  getState(): null {
    return null;
  }
  setState(): void {}
}

/** Run one side in its own process; its last stdout line is the JSON result. */
export function runSide<T>(command: string, args: string[], what: string): T {
  const r = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${what} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as T;
}

/** What timedTraining trains on: train()'s loss, its token count of a batch, and the models it reads but does not train. */
export interface TimedObjective<B> {
  loss: LossFn<DecoderForCausalLM, B>;
  tokens: (batch: B) => number;
  frozen?: readonly Module[];
}

const causalLm: TimedObjective<Batch> = { loss: causalLmLoss, tokens: causalLmTokens };

interface TimedResult {
  tokensPerSecond: number;
  loss: number;
}

/**
 * `warmup` untimed then `steps` timed steps of train() (clipping to 1.0) on `objective` (default: next-token cross
 * entropy): the timed steps' tokens/s, from the loop's own per-step timing, and the last loss.
 */
export async function timedTraining(
  model: DecoderForCausalLM,
  optimizer: TrainOptimizer,
  batches: Batcher<Batch, unknown>,
  run: { steps: number; warmup: number },
): Promise<TimedResult>;
export async function timedTraining<B>(
  model: DecoderForCausalLM,
  optimizer: TrainOptimizer,
  batches: Batcher<B, unknown>,
  run: { steps: number; warmup: number; objective: TimedObjective<B> },
): Promise<TimedResult>;
export async function timedTraining<B>(
  model: DecoderForCausalLM,
  optimizer: TrainOptimizer,
  batches: Batcher<B, unknown>,
  { steps, warmup, objective }: { steps: number; warmup: number; objective?: TimedObjective<B> },
): Promise<TimedResult> {
  // The first overload: without an objective the batches are next-token batches.
  const { loss: lossFn, tokens, frozen } = objective ?? (causalLm as unknown as TimedObjective<B>);
  let stepTokens = 0;
  let timedTokens = 0;
  let timedSeconds = 0;
  let loss = Number.NaN;
  await train(model, batches, {
    loss: lossFn,
    tokens: (batch) => {
      stepTokens = tokens(batch);
      return stepTokens;
    },
    ...(frozen && { frozen }),
    optimizer,
    steps: warmup + steps,
    clipNorm: 1,
    logEvery: 1,
    onLog: (r) => {
      loss = r.loss;
      if (r.step <= warmup) return;
      timedTokens += stepTokens;
      timedSeconds += stepTokens / (r.tokensPerSecond as number);
    },
  });
  return { tokensPerSecond: timedTokens / timedSeconds, loss };
}
