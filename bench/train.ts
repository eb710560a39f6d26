/**
 * Training throughput: lithe's `train()` on llama-ref's configuration (8 layers, hidden 384, 6 heads,
 * 2 KV heads, MLP 1024, vocab 8192, seq 256, batch 16) next to transformers on PyTorch CPU (2 threads)
 * with the same recipe, in the same run: random init, uniform random tokens, AdamW (decay on
 * matrices only), clipping to 1.0. Each side runs in its own process, so peak RSS is its own; the first
 * WARMUP steps are not timed. The last line is `train ratio vs pytorch: X.XX` (lithe tokens/s over PyTorch's).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Rng } from '../src/engine/rng.js';
import { Tensor } from '../src/engine/tensor.js';
import { parseDecoderConfig } from '../src/models/llama/config.js';
import { DecoderForCausalLM } from '../src/models/llama/model.js';
import type { Batch, Batcher } from '../src/train/batches.js';
import { causalLmLoss, causalLmTokens } from '../src/train/causal-lm.js';
import { train } from '../src/train/loop.js';
import { AdamW } from '../src/train/optim/adamw.js';
import { decayGroups } from '../src/train/optim/optimizer.js';
import { findPython, repoRoot } from './python.js';

const STEPS = Number(process.env.STEPS ?? 6);
const WARMUP = Number(process.env.WARMUP ?? 2);
const SHAPE = { layers: 8, hidden: 384, heads: 6, kvHeads: 2, intermediate: 1024, vocab: 8192, seqlen: 256, batch: 16 };

interface SideResult {
  tokens_per_second: number;
  peak_rss_mb: number;
  final_loss: number;
}

/** Uniform random tokens: the speed of a step does not depend on the text. */
class RandomTokens implements Batcher<Batch, null> {
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

/** The lithe side, run in a child process (`train.js --worker`). */
async function worker(): Promise<void> {
  const config = parseDecoderConfig({
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
  const model = new DecoderForCausalLM(config, { seed: 0 });
  const optimizer = new AdamW(decayGroups(model, { weightDecay: 0.1 }), { lr: 1e-3, betas: [0.9, 0.95] });
  let timedTokens = 0;
  let timedSeconds = 0;
  let loss = Number.NaN;
  await train(model, new RandomTokens(), {
    loss: causalLmLoss,
    tokens: causalLmTokens,
    optimizer,
    steps: WARMUP + STEPS,
    clipNorm: 1,
    logEvery: 1,
    onLog: (r) => {
      loss = r.loss;
      if (r.step <= WARMUP) return;
      timedTokens += SHAPE.batch * SHAPE.seqlen;
      timedSeconds += (SHAPE.batch * SHAPE.seqlen) / (r.tokensPerSecond as number);
    },
  });
  const result: SideResult = {
    tokens_per_second: timedTokens / timedSeconds,
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    final_loss: loss,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function runSide(command: string, args: string[], what: string): SideResult {
  const r = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${what} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as SideResult;
}

function row(name: string, r: SideResult): string {
  return `${name.padEnd(20)} ${r.tokens_per_second.toFixed(0).padStart(9)} ${r.peak_rss_mb.toFixed(0).padStart(14)} ${r.final_loss.toFixed(4).padStart(11)}`;
}

async function main(): Promise<void> {
  console.log(
    `llama-ref configuration: ${SHAPE.layers} layers, hidden ${SHAPE.hidden}, ${SHAPE.heads} heads (${SHAPE.kvHeads} KV), ` +
      `MLP ${SHAPE.intermediate}, vocab ${SHAPE.vocab}; seq ${SHAPE.seqlen} x batch ${SHAPE.batch}; ${STEPS} timed steps after ${WARMUP}`,
  );
  console.log(
    `${'engine'.padEnd(20)} ${'tokens/s'.padStart(9)} ${'peak RSS (MB)'.padStart(14)} ${'last loss'.padStart(11)}`,
  );
  const lithe = runSide(process.execPath, [join(repoRoot, 'dist', 'bench', 'train.js'), '--worker'], 'lithe');
  console.log(row('lithe', lithe));
  const { python, reason } = findPython(['torch', 'transformers']);
  if (!python) {
    console.log(`pytorch              skipped (${reason})`);
    console.log('train ratio vs pytorch: n/a');
    return;
  }
  const torch = runSide(
    python,
    [join(repoRoot, 'tools', 'torch_train_bench.py'), '--steps', String(STEPS), '--warmup', String(WARMUP)],
    'pytorch',
  );
  console.log(row('pytorch (2 threads)', torch));
  console.log(`train ratio vs pytorch: ${(lithe.tokens_per_second / torch.tokens_per_second).toFixed(2)}`);
}

if (process.argv.includes('--worker')) await worker();
else await main();
