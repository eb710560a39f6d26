/**
 * Training throughput: lithe's `train()` on llama-ref's configuration (8 layers, hidden 384, 6 heads,
 * 2 KV heads, MLP 1024, vocab 8192, seq 256, batch 16) next to transformers on PyTorch CPU (2 threads)
 * with the same recipe, in the same run: random init, uniform random tokens, AdamW (decay on
 * matrices only), clipping to 1.0. Each side runs in its own process, so peak RSS is its own; the first
 * WARMUP steps are not timed. The last line is `train ratio vs pytorch: X.XX` (lithe tokens/s over PyTorch's).
 */
import { join } from 'node:path';
import { DecoderForCausalLM } from '../src/models/llama/model.js';
import { AdamW } from '../src/train/optim/adamw.js';
import { decayGroups } from '../src/train/optim/optimizer.js';
import { findPython, repoRoot } from './python.js';
import { benchConfig, RandomTokens, runSide, SHAPE, timedTraining } from './train-shape.js';

const STEPS = Number(process.env.STEPS ?? 6);
const WARMUP = Number(process.env.WARMUP ?? 2);

interface SideResult {
  tokens_per_second: number;
  peak_rss_mb: number;
  final_loss: number;
}

/** The lithe side, run in a child process (`train.js --worker`). */
async function worker(): Promise<void> {
  const config = benchConfig();
  const model = new DecoderForCausalLM(config, { seed: 0 });
  const optimizer = new AdamW(decayGroups(model, { weightDecay: 0.1 }), { lr: 1e-3, betas: [0.9, 0.95] });
  const { tokensPerSecond, loss } = await timedTraining(model, optimizer, new RandomTokens(), {
    steps: STEPS,
    warmup: WARMUP,
  });
  const result: SideResult = {
    tokens_per_second: tokensPerSecond,
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    final_loss: loss,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
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
  const lithe = runSide<SideResult>(
    process.execPath,
    [join(repoRoot, 'dist', 'bench', 'train.js'), '--worker'],
    'lithe',
  );
  console.log(row('lithe', lithe));
  const { python, reason } = findPython(['torch', 'transformers']);
  if (!python) {
    console.log(`pytorch              skipped (${reason})`);
    console.log('train ratio vs pytorch: n/a');
    return;
  }
  const torch = runSide<SideResult>(
    python,
    [join(repoRoot, 'tools', 'torch_train_bench.py'), '--steps', String(STEPS), '--warmup', String(WARMUP)],
    'pytorch',
  );
  console.log(row('pytorch (2 threads)', torch));
  console.log(`train ratio vs pytorch: ${(lithe.tokens_per_second / torch.tokens_per_second).toFixed(2)}`);
}

if (process.argv.includes('--worker')) await worker();
else await main();
