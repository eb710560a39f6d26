/**
 * DPO step throughput: lithe's `train()` with preferenceObjective on llama-ref's configuration (8 layers, hidden 384,
 * 6 heads, 2 KV heads, MLP 1024, vocab 8192) next to TRL's DPOTrainer on PyTorch CPU (2 threads), in the same run.
 * One step is a batch of 8 pairs, each answer prompt 64 + completion 192 random token ids (256), sigmoid loss, β 0.1,
 * AdamW, clipping to 1.0, from a random init (seeded; the reference has the policy's initial weights). Two variants per
 * engine: a live frozen reference model run every step, and `--precompute-ref`, the reference log-probabilities scored
 * once before training (timed apart) with no reference model kept (TRL's precompute_ref_log_probs). Each variant runs in
 * its own process, so peak RSS is its own; the first WARMUP steps are not timed. tokens/s counts both answers of every
 * pair, 2 × 8 × 256 per step. The last line is `align ratio vs trl: X.XX` (lithe's live-reference tokens/s over TRL's).
 */
import { join } from 'node:path';
import { Rng } from '../src/engine/rng.js';
import { pairLogProbs } from '../src/eval/preference.js';
import { DecoderForCausalLM } from '../src/models/llama/model.js';
import type { Module } from '../src/nn/module.js';
import { AdamW } from '../src/train/optim/adamw.js';
import { decayGroups } from '../src/train/optim/optimizer.js';
import {
  type PairLogProbTable,
  PreferenceBatcher,
  type PreferenceIds,
  preferenceObjective,
} from '../src/train/preference.js';
import { findPython, repoRoot } from './python.js';
import { benchConfig, runSide, SHAPE, timedTraining } from './train-shape.js';

const STEPS = Number(process.env.STEPS ?? 5);
const WARMUP = Number(process.env.WARMUP ?? 2);
/** 8 pairs: 16 sequences of 256 tokens, bench:train's block of tokens. */
const PAIRS = SHAPE.batch / 2;
const PROMPT = 64;
const COMPLETION = SHAPE.seqlen - PROMPT;
const BETA = 0.1;
/** Both answers of every pair at full length; lithe's inputs hold 255 of each 256 (the last token is only a target). */
const STEP_TOKENS = 2 * PAIRS * SHAPE.seqlen;
const EOS_ID = 1;
const VARIANTS = ['live', 'precompute'] as const;
type Variant = (typeof VARIANTS)[number];

interface SideResult {
  tokens_per_second: number;
  peak_rss_mb: number;
  final_loss: number;
  precompute_seconds: number | null;
}

/** Random pairs with ids from 2 up (0 pads, 1 is EOS), each completion ending in EOS as TRL's text path appends. */
function randomPairs(count: number): PreferenceIds[] {
  const rng = new Rng(0);
  const ids = (n: number) => Int32Array.from({ length: n }, () => 2 + rng.int(SHAPE.vocab - 2));
  const completion = () => Int32Array.from([...ids(COMPLETION - 1), EOS_ID]);
  return Array.from({ length: count }, () => ({
    prompt: ids(PROMPT),
    chosen: completion(),
    rejected: completion(),
    tie: false,
  }));
}

/** The lithe side for one variant, run in a child process (`align.js --worker VARIANT`). */
async function worker(variant: Variant): Promise<void> {
  const config = benchConfig();
  const model = new DecoderForCausalLM(config, { seed: 0 });
  const pairs = randomPairs(PAIRS * (WARMUP + STEPS));
  let reference: DecoderForCausalLM | PairLogProbTable;
  let frozen: Module[] = [];
  let precomputeSeconds: number | null = null;
  if (variant === 'live') {
    reference = new DecoderForCausalLM(config, { seed: 0 });
    frozen = [reference];
  } else {
    // The policy before its first step is the reference: scored once, no second model is ever built.
    const start = performance.now();
    reference = await pairLogProbs(model, pairs, { batchSize: PAIRS });
    precomputeSeconds = (performance.now() - start) / 1000;
  }
  const optimizer = new AdamW(decayGroups(model, { weightDecay: 0.1 }), { lr: 1e-3, betas: [0.9, 0.95] });
  const { tokensPerSecond, loss } = await timedTraining(
    model,
    optimizer,
    new PreferenceBatcher(pairs, { batchSize: PAIRS }),
    {
      steps: STEPS,
      warmup: WARMUP,
      objective: {
        loss: preferenceObjective(reference, { loss: 'sigmoid', beta: BETA }),
        tokens: () => STEP_TOKENS,
        frozen,
      },
    },
  );
  const result: SideResult = {
    tokens_per_second: tokensPerSecond,
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    final_loss: loss,
    precompute_seconds: precomputeSeconds,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function row(name: string, r: SideResult): string {
  const precompute = r.precompute_seconds === null ? '-' : r.precompute_seconds.toFixed(1);
  return (
    `${name.padEnd(30)} ${r.tokens_per_second.toFixed(0).padStart(9)} ${r.peak_rss_mb.toFixed(0).padStart(14)} ` +
    `${precompute.padStart(15)} ${r.final_loss.toFixed(4).padStart(10)}`
  );
}

async function main(): Promise<void> {
  console.log(
    `llama-ref configuration: ${SHAPE.layers} layers, hidden ${SHAPE.hidden}, ${SHAPE.heads} heads (${SHAPE.kvHeads} KV), ` +
      `MLP ${SHAPE.intermediate}, vocab ${SHAPE.vocab}; DPO (sigmoid, beta ${BETA}), ${PAIRS} pairs x 2 answers of ` +
      `${PROMPT} + ${COMPLETION} tokens; ${STEPS} timed steps after ${WARMUP}; precompute scores ${PAIRS * (WARMUP + STEPS)} pairs`,
  );
  console.log(
    `${'variant'.padEnd(30)} ${'tokens/s'.padStart(9)} ${'peak RSS (MB)'.padStart(14)} ` +
      `${'precompute (s)'.padStart(15)} ${'last loss'.padStart(10)}`,
  );
  const lithe = {} as Record<Variant, SideResult>;
  for (const variant of VARIANTS) {
    lithe[variant] = runSide<SideResult>(
      process.execPath,
      [join(repoRoot, 'dist', 'bench', 'align.js'), '--worker', variant],
      `lithe ${variant}`,
    );
    console.log(row(variant === 'live' ? 'lithe, live reference' : 'lithe, --precompute-ref', lithe[variant]));
  }
  const { python, reason } = findPython(['torch', 'transformers', 'trl', 'datasets']);
  if (!python) {
    console.log(`trl                            skipped (${reason})`);
    console.log('align ratio vs trl: n/a');
    return;
  }
  const trl = {} as Record<Variant, SideResult>;
  for (const variant of VARIANTS) {
    const args = [join(repoRoot, 'tools', 'trl_align_bench.py'), '--steps', String(STEPS), '--warmup', String(WARMUP)];
    trl[variant] = runSide<SideResult>(
      python,
      variant === 'live' ? args : [...args, '--precompute-ref'],
      `trl ${variant}`,
    );
    const name = variant === 'live' ? 'trl DPOTrainer, live reference' : 'trl DPOTrainer, precompute_ref';
    console.log(row(name, trl[variant]));
  }
  console.log('(trl: DPOTrainer.train() timed between on_step_end callbacks; torch 2 threads, f32)');
  console.log(`align ratio vs trl: ${(lithe.live.tokens_per_second / trl.live.tokens_per_second).toFixed(2)}`);
}

const variantArg = process.argv[process.argv.indexOf('--worker') + 1] as Variant;
if (process.argv.includes('--worker')) await worker(variantArg);
else await main();
