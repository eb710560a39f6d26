/**
 * Memory and speed of GaLore and Q-GaLore against AdamW, on llama-ref's configuration (seq 256, batch 16): each
 * optimiser trains a random-init model on uniform random tokens in its own process (so that its peak RSS is its own),
 * WARMUP untimed steps then STEPS timed ones, and reports the bytes its live buffers hold after one more step:
 * weights, gradients and optimiser state, in all and on the parameters GaLore manages (the attention and MLP Linears).
 * transformers + torch AdamW (2 threads) is the baseline row. GaLore: rank 128, T 200, α 0.25; Q-GaLore the same with
 * int8 weights (groups of 256, stochastic rounding) and int4 projections.
 * The last line is `galore state vs adamw: X.XX, qgalore weights+state vs galore: Y.YY` (on the managed parameters).
 */
import { join } from 'node:path';
import type { Tensor } from '../src/engine/tensor.js';
import { DecoderForCausalLM } from '../src/models/llama/model.js';
import { quantizedWeightOf } from '../src/nn/quant-linear.js';
import { causalLmLoss } from '../src/train/causal-lm.js';
import { AdamW } from '../src/train/optim/adamw.js';
import { DEFAULT_GALORE_TARGETS, GaLoreAdamW, galoreGroups, globMatcher } from '../src/train/optim/galore.js';
import { decayGroups } from '../src/train/optim/optimizer.js';
import { QGaLoreAdamW, qgaloreGroups } from '../src/train/optim/qgalore.js';
import { findPython, repoRoot } from './python.js';
import { benchConfig, RandomTokens, runSide, SHAPE, timedTraining } from './train-shape.js';

const STEPS = Number(process.env.STEPS ?? 20);
const WARMUP = Number(process.env.WARMUP ?? 2);
const GALORE = { rank: 128, updateProjGap: 200, scale: 0.25 };
const KINDS = ['adamw', 'galore', 'qgalore'] as const;
type Kind = (typeof KINDS)[number];

interface Held {
  weight_bytes: number;
  grad_bytes: number;
  state_bytes: number;
}

interface SideResult extends Held {
  tokens_per_second: number;
  peak_rss_mb: number;
  managed_weight_bytes: number;
  managed_grad_bytes: number;
  managed_state_bytes: number;
  svds?: number;
}

function makeOptimizer(kind: Kind, model: DecoderForCausalLM): AdamW | GaLoreAdamW | QGaLoreAdamW {
  const hyper = { lr: 1e-3, betas: [0.9, 0.95] as [number, number] };
  if (kind === 'adamw') return new AdamW(decayGroups(model, { weightDecay: 0.1 }), hyper);
  if (kind === 'galore') return new GaLoreAdamW(galoreGroups(model, { ...GALORE, weightDecay: 0.1 }), hyper);
  return new QGaLoreAdamW(qgaloreGroups(model, { ...GALORE, weightDecay: 0.1 }), hyper);
}

/** The lithe side for one optimiser, run in a child process (`galore.js --worker KIND`). */
async function worker(kind: Kind): Promise<void> {
  const model = new DecoderForCausalLM(benchConfig(), { seed: 0 });
  const optimizer = makeOptimizer(kind, model);
  const batches = new RandomTokens();
  const { tokensPerSecond } = await timedTraining(model, optimizer, batches, { steps: STEPS, warmup: WARMUP });
  // One more step by hand, to count the gradients while they are alive and the state as the step leaves it.
  const params = optimizer.groups.flatMap((g) => g.params);
  const names = new Map<Tensor, string>();
  for (const group of optimizer.groups) {
    for (const [i, name] of (group.names ?? []).entries()) names.set(group.params[i], name);
  }
  const isManaged = globMatcher(DEFAULT_GALORE_TARGETS);
  const managed = (p: Tensor) => p.rank === 2 && isManaged(names.get(p) ?? '');
  optimizer.zeroGrad();
  causalLmLoss(model, batches.next()).backward();
  const held = (select: (p: Tensor) => boolean): Held => {
    const chosen = params.filter(select);
    return {
      // A quantised weight holds its codes, scales and zero points; its gradient sink holds nothing.
      weight_bytes: chosen.reduce((sum, p) => sum + (quantizedWeightOf(p)?.byteSize ?? p.size * 4), 0),
      grad_bytes: chosen.reduce((sum, p) => sum + (p.grad ? p.grad.size * 4 : 0), 0),
      state_bytes: 0,
    };
  };
  const all = held(() => true);
  const onManaged = held(managed);
  optimizer.step();
  all.state_bytes = optimizer.stateBytes();
  onManaged.state_bytes = optimizer.stateBytes(managed);
  const result: SideResult = {
    tokens_per_second: tokensPerSecond,
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    ...all,
    managed_weight_bytes: onManaged.weight_bytes,
    managed_grad_bytes: onManaged.grad_bytes,
    managed_state_bytes: onManaged.state_bytes,
    ...(optimizer instanceof QGaLoreAdamW ? { svds: optimizer.svdCount } : {}),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(2).padStart(9);

function row(name: string, r: SideResult): string {
  return (
    `${name.padEnd(22)} ${mb(r.weight_bytes)} ${mb(r.grad_bytes)} ${mb(r.state_bytes)}   ` +
    `${mb(r.managed_weight_bytes)} ${mb(r.managed_state_bytes)} ${r.peak_rss_mb.toFixed(0).padStart(9)} ${r.tokens_per_second.toFixed(0).padStart(9)}`
  );
}

async function main(): Promise<void> {
  console.log(
    `llama-ref configuration: ${SHAPE.layers} layers, hidden ${SHAPE.hidden}, MLP ${SHAPE.intermediate}, vocab ${SHAPE.vocab}; ` +
      `seq ${SHAPE.seqlen} x batch ${SHAPE.batch}; ${STEPS} timed steps after ${WARMUP}; GaLore rank ${GALORE.rank}, T ${GALORE.updateProjGap}`,
  );
  console.log(`${''.padEnd(22)} ${'all parameters (MiB)'.padStart(29)}   ${'managed (MiB)'.padStart(19)}`);
  console.log(
    `${'optimiser'.padEnd(22)} ${'weights'.padStart(9)} ${'grads'.padStart(9)} ${'state'.padStart(9)}   ` +
      `${'weights'.padStart(9)} ${'state'.padStart(9)} ${'RSS (MB)'.padStart(9)} ${'tokens/s'.padStart(9)}`,
  );
  const results = {} as Record<Kind, SideResult>;
  for (const kind of KINDS) {
    results[kind] = runSide<SideResult>(
      process.execPath,
      [join(repoRoot, 'dist', 'bench', 'galore.js'), '--worker', kind],
      `lithe ${kind}`,
    );
    console.log(row(`lithe ${kind}`, results[kind]));
  }
  const { python, reason } = findPython(['torch', 'transformers']);
  if (python) {
    const torch = runSide<SideResult>(
      python,
      [join(repoRoot, 'tools', 'torch_train_bench.py'), '--steps', String(STEPS), '--warmup', String(WARMUP)],
      'pytorch',
    );
    console.log(row('torch adamw (2 threads)', torch));
  } else {
    console.log(`torch adamw            skipped (${reason})`);
  }
  const { adamw, galore, qgalore } = results;
  console.log(
    `tokens/s: galore vs adamw ${(galore.tokens_per_second / adamw.tokens_per_second).toFixed(2)}, ` +
      `qgalore vs galore ${(qgalore.tokens_per_second / galore.tokens_per_second).toFixed(2)}; qgalore SVDs ${qgalore.svds}`,
  );
  const x = galore.managed_state_bytes / adamw.managed_state_bytes;
  const y =
    (qgalore.managed_weight_bytes + qgalore.managed_state_bytes) /
    (galore.managed_weight_bytes + galore.managed_state_bytes);
  console.log(`galore state vs adamw: ${x.toFixed(2)}, qgalore weights+state vs galore: ${y.toFixed(2)}`);
}

const kindArg = process.argv[process.argv.indexOf('--worker') + 1] as Kind;
if (process.argv.includes('--worker')) await worker(kindArg);
else await main();
