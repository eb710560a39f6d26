import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../engine/errors.js';
import type { OnProgress } from '../engine/progress.js';
import { saveDecoder } from '../io/checkpoint.js';
import { type OutputDir, openOutputDir } from '../io/output-dir.js';
import type { LitheTokenizer } from '../io/tokenizer.js';
import type { DecoderConfig } from '../models/llama/config.js';
import type { DecoderForCausalLM } from '../models/llama/model.js';
import type { Module } from '../nn/module.js';
import type { Batcher } from '../train/batches.js';
import { CHECKPOINT_DIR, holdsTrainingRun, type LossFn, METRICS_FILE, type TrainRecord, train } from '../train/loop.js';
import { AdamW } from '../train/optim/adamw.js';
import { DEFAULT_GALORE_TARGETS, GaLoreAdamW, type GaLoreGroupsOptions, galoreGroups } from '../train/optim/galore.js';
import { decayGroups, OptimizerError } from '../train/optim/optimizer.js';
import { QGaLoreAdamW, type QGaLoreOptions, qgaloreGroups } from '../train/optim/qgalore.js';
import { SGD } from '../train/optim/sgd.js';
import { cosineSchedule } from '../train/schedule.js';
import type { FlagTable, FlagValues } from './flags.js';
import { stderrProgress } from './progress-bar.js';

/** The flags of the optimiser, its schedule and the run (steps, logging, checkpoints), shared by train and align. */
export const OPTIMIZATION_FLAGS = {
  'grad-accum': { kind: 'int', default: 1, max: 1 << 16, help: 'micro-batches per optimiser step' },
  steps: { kind: 'int', default: 200, max: 1e9, help: 'optimiser steps in total (counting those before --resume)' },
  lr: { kind: 'number', default: 1e-3, min: 0, max: 10, help: 'peak learning rate' },
  'min-lr-ratio': { kind: 'number', default: 0.1, min: 0, max: 1, help: 'final LR of the cosine schedule / peak' },
  warmup: { kind: 'int', min: 0, defaultText: 'steps / 20', help: 'linear warmup steps (0: none)' },
  'weight-decay': {
    kind: 'number',
    default: 0.1,
    min: 0,
    max: 10,
    help: 'decoupled weight decay, not on norms, biases and embeddings',
  },
  clip: { kind: 'number', default: 1, min: 0, help: 'clip the global gradient norm to this (0: no clipping)' },
  optimizer: {
    kind: 'choice',
    choices: ['adamw', 'sgd', 'galore', 'qgalore'],
    default: 'adamw',
    help: 'AdamW (betas 0.9, 0.95), SGD, GaLore: AdamW with low-rank projected moments on --galore-targets, or Q-GaLore: GaLore with int8 weights and int4 projections there',
  },
  'galore-rank': { kind: 'int', default: 128, min: 1, max: 1 << 16, help: 'GaLore projection rank' },
  'galore-gap': {
    kind: 'int',
    default: 200,
    min: 1,
    max: 1e9,
    help: 'steps between GaLore subspace refreshes (an SVD of the gradient)',
  },
  'galore-scale': { kind: 'number', default: 0.25, min: 0, max: 100, help: 'GaLore scale α of the projected update' },
  'galore-targets': {
    kind: 'string',
    value: 'GLOB',
    default: DEFAULT_GALORE_TARGETS,
    help: "parameters GaLore projects ('*' any characters, comma-separated); the rest use AdamW",
  },
  'qgalore-rounding': {
    kind: 'choice',
    choices: ['stochastic', 'nearest'],
    default: 'stochastic',
    help: 'how Q-GaLore requantises its int8 weights after each update',
  },
  'qgalore-group-size': {
    kind: 'int',
    default: 256,
    min: 1,
    max: 1 << 20,
    help: 'elements per quantisation group of the int8 weights and int4 projections',
  },
  'qgalore-cos-threshold': {
    kind: 'number',
    default: 0.4,
    min: 0,
    max: 1,
    help: "Q-GaLore's lazy subspace: double a weight's refresh gap once the mean |cos| of its last refreshes reaches this",
  },
  'qgalore-window': {
    kind: 'int',
    default: 5,
    min: 0,
    max: 1 << 16,
    help: 'refreshes the lazy subspace averages over (0: refresh every --galore-gap steps, as GaLore)',
  },
  momentum: { kind: 'number', default: 0.9, min: 0, max: 1, help: 'SGD momentum' },
  seed: { kind: 'int', default: 0, min: 0, max: 2 ** 32 - 1, help: 'seed of the initialisation and the batch order' },
  'log-every': { kind: 'int', default: 10, help: 'log (stderr and metrics.jsonl) every N steps' },
  'checkpoint-every': { kind: 'int', default: 100, help: 'write checkpoint/ every N steps' },
  'save-dtype': {
    kind: 'choice',
    choices: ['f32', 'bf16', 'f16'],
    defaultText: "the --model's dtype, else f32",
    help: 'storage dtype of model/ and checkpoint/ weights (narrower ones keep f32 copies for exact resume)',
  },
  resume: { kind: 'boolean', help: 'continue the run in --out from its checkpoint, bit for bit' },
  overwrite: {
    kind: 'boolean',
    help: 'start over in an --out that already holds a run, or write into a non-empty directory (deletes nothing lithe did not write)',
  },
} as const satisfies FlagTable;

export type OptimizationValues = FlagValues<typeof OPTIMIZATION_FLAGS> & { out: string };

/** The optimisation flags that shape the run, so --resume must repeat them (--steps may grow). */
export const OPTIMIZATION_RESUME_FLAGS = [
  'grad-accum',
  'seed',
  'lr',
  'min-lr-ratio',
  'weight-decay',
  'optimizer',
  'momentum',
  'clip',
  'galore-rank',
  'galore-gap',
  'galore-scale',
  'galore-targets',
  'qgalore-rounding',
  'qgalore-group-size',
  'qgalore-cos-threshold',
  'qgalore-window',
] as const;

const GALORE_FLAGS = ['galore-rank', 'galore-gap', 'galore-scale', 'galore-targets'] as const;
const QGALORE_FLAGS = ['qgalore-rounding', 'qgalore-group-size', 'qgalore-cos-threshold', 'qgalore-window'] as const;

/** The warmup steps of the run, after refusing optimisation flags that contradict each other (before any work). */
export function checkOptimizationFlags(command: string, values: OptimizationValues): number {
  const { steps } = values;
  if (steps < 2 && values.given.has('warmup') && values.warmup !== 0) {
    throw new UsageError(`${command}: --warmup needs at least 2 --steps`);
  }
  // 5% of the steps, at least one when there is room for it (a one-step run has none).
  const warmup = values.warmup ?? (steps > 1 ? Math.max(1, Math.round(steps / 20)) : 0);
  if (warmup >= steps) throw new UsageError(`${command}: --warmup ${warmup} must be smaller than --steps ${steps}`);
  const galoreFlag = GALORE_FLAGS.find((flag) => values.given.has(flag));
  if (galoreFlag && values.optimizer !== 'galore' && values.optimizer !== 'qgalore') {
    throw new UsageError(`${command}: --${galoreFlag} needs --optimizer galore or qgalore`);
  }
  const qgaloreFlag = QGALORE_FLAGS.find((flag) => values.given.has(flag));
  if (qgaloreFlag && values.optimizer !== 'qgalore') {
    throw new UsageError(`${command}: --${qgaloreFlag} needs --optimizer qgalore`);
  }
  if (values['qgalore-window'] === 0 && values.given.has('qgalore-cos-threshold')) {
    throw new UsageError(
      `${command}: --qgalore-cos-threshold has no effect with --qgalore-window 0 (no lazy subspace)`,
    );
  }
  return warmup;
}

type TrainingOptimizer = AdamW | SGD | GaLoreAdamW | QGaLoreAdamW;

/**
 * The --optimizer over the model's trainable parameters (no decay on norms, biases and embeddings). qgalore first
 * turns the target Linears into QuantLinears (int8 codes), in place.
 */
function makeOptimizer(
  command: string,
  model: DecoderForCausalLM,
  values: OptimizationValues,
  hyper: { lr: number; weightDecay: number },
): TrainingOptimizer {
  const { lr, weightDecay } = hyper;
  const betas: [number, number] = [0.9, 0.95];
  const kind = values.optimizer;
  if (kind === 'sgd') return new SGD(decayGroups(model, { weightDecay }), { lr, momentum: values.momentum });
  if (kind === 'adamw') return new AdamW(decayGroups(model, { weightDecay }), { lr, betas });
  const galore: Required<Pick<GaLoreGroupsOptions, 'targets' | 'rank' | 'updateProjGap' | 'scale'>> = {
    targets: values['galore-targets'],
    rank: values['galore-rank'],
    updateProjGap: values['galore-gap'],
    scale: values['galore-scale'],
  };
  try {
    if (kind === 'galore') return new GaLoreAdamW(galoreGroups(model, { ...galore, weightDecay }), { lr, betas });
    const qgalore: Required<Pick<QGaLoreOptions, 'stochasticRounding' | 'lazy'>> = {
      stochasticRounding: values['qgalore-rounding'] === 'stochastic',
      lazy:
        values['qgalore-window'] === 0
          ? null
          : { cosThreshold: values['qgalore-cos-threshold'], window: values['qgalore-window'] },
    };
    const groups = qgaloreGroups(model, { ...galore, groupSize: values['qgalore-group-size'], weightDecay });
    return new QGaLoreAdamW(groups, { lr, betas, ...qgalore, seed: values.seed });
  } catch (err) {
    if (err instanceof OptimizerError) throw new UsageError(`${command}: --galore-targets: ${err.message}`);
    throw err;
  }
}

const SAVE_DTYPES: Record<string, 'f32' | 'bf16' | 'f16'> = { float32: 'f32', bfloat16: 'bf16', float16: 'f16' };

/** The storage dtype of model/ and checkpoint/: --save-dtype, else the starting checkpoint's, else f32. */
export function saveDtypeOf(
  given: 'f32' | 'bf16' | 'f16' | undefined,
  config: DecoderConfig | null,
): 'f32' | 'bf16' | 'f16' {
  return given ?? (config ? (SAVE_DTYPES[config.dtype] ?? 'f32') : 'f32');
}

/** What must match for --resume to continue a run exactly; written to DIR/run.json. */
export interface RunRecord {
  format: 'lithe-train-run';
  config: Record<string, unknown>;
  /** The flags that shape the data order, the objective and the optimiser, by name. */
  flags: Record<string, unknown>;
}
const RUN_FILE = 'run.json';

/** Refuse --resume when the flags describe a different run than the one in --out, naming the first difference. */
function checkResumable(command: string, outDir: string, run: RunRecord): void {
  const file = join(outDir, RUN_FILE);
  if (!existsSync(file)) return;
  const before = JSON.parse(readFileSync(file, 'utf8')) as RunRecord;
  for (const [flag, now] of Object.entries(run.flags)) {
    const was = before.flags?.[flag];
    if (was !== undefined && was !== now) {
      throw new UsageError(`${command}: --resume with --${flag} ${now}, but the run in ${outDir} used ${was}`);
    }
  }
  for (const key of new Set([...Object.keys(before.config), ...Object.keys(run.config)])) {
    if (JSON.stringify(before.config[key]) !== JSON.stringify(run.config[key])) {
      throw new UsageError(
        `${command}: --resume with a different architecture: ${key} is ${JSON.stringify(run.config[key])}, the run in ${outDir} has ${JSON.stringify(before.config[key])}`,
      );
    }
  }
}

/**
 * Refuse an --out that cannot take this run: --resume of a run with other flags or another architecture, or a new
 * run over one already there without --overwrite. Commands call it before reading their data, so a bad --out is cheap.
 */
export function checkRunDir(command: string, values: OptimizationValues, run: RunRecord): void {
  if (values.resume) checkResumable(command, values.out, run);
  if (!values.resume && !values.overwrite && holdsTrainingRun(values.out)) {
    throw new UsageError(
      `${command}: ${values.out} already holds a training run; pass --resume to continue it or --overwrite to start over`,
    );
  }
}

/** What a command sets up inside the locked --out: the model, its data and its objective. */
export interface TrainingSetup<B> {
  model: DecoderForCausalLM;
  batcher: Batcher<B>;
  loss: LossFn<DecoderForCausalLM, B>;
  tokens: (batch: B) => number;
  frozen?: readonly Module[];
  evaluate?: () => Promise<{ perplexity: number }>;
  evalEvery?: number;
  /** Metric names (of the loss's LossWithMetrics) the progress line shows, with their short labels. */
  showMetrics?: Readonly<Record<string, string>>;
  /** Called once the optimiser exists, e.g. to report how many parameters it trains. */
  onOptimizer?: (optimizer: TrainingOptimizer) => void;
}

export interface TrainingJob<B> {
  /** As typed after `lithe`, for messages. */
  command: string;
  values: OptimizationValues;
  /** The run's identity, written to run.json and checked by --resume. */
  run: RunRecord;
  /** Paths the run reads, which --out must not be inside of. */
  inputs: readonly string[];
  /** The effective learning rate and weight decay (a command may change the flags' defaults). */
  hyper: { lr: number; weightDecay: number };
  /** Warmup steps, from checkOptimizationFlags (which, with checkRunDir, the command runs before reading its data). */
  warmup: number;
  tokenizer: LitheTokenizer;
  saveDtype: 'f32' | 'bf16' | 'f16';
  /** Load the data and the model once --out is locked; `out` is where temporary files may go. */
  setup: (onProgress: OnProgress, out: OutputDir) => Promise<TrainingSetup<B>>;
}

/**
 * Run a training job the way every lithe training command does: lock --out, set up, train with a cosine schedule,
 * checkpoints, Ctrl-C and --resume, then save model/ (an HF checkpoint with the tokenizer) and print the result line.
 */
export async function runTrainingJob<B>(job: TrainingJob<B>): Promise<number> {
  const { command, values, run, warmup } = job;
  const { out, steps } = values;
  // Checked and locked before the data is tokenised, so that a bad --out costs nothing.
  const outDir = openOutputDir(out, {
    inputs: [...job.inputs],
    overwrite: values.overwrite || values.resume,
    what: '--out',
    kind: 'train-run',
  });
  let failed = true;
  try {
    // Whatever this run will replace must be lithe's own, found out before any work.
    for (const name of [RUN_FILE, 'model', ...(values.resume ? [] : [METRICS_FILE, CHECKPOINT_DIR])])
      outDir.claim(name);
    const onProgress = stderrProgress();
    const setup = await job.setup(onProgress, outDir);
    const { model } = setup;
    const optimizer = makeOptimizer(command, model, values, job.hyper);
    setup.onOptimizer?.(optimizer);
    // Written once a checkpoint exists (also when the run then fails), so a failed start leaves nothing behind.
    const recordRun = () => {
      if (holdsTrainingRun(out)) outDir.writeFile(RUN_FILE, `${JSON.stringify(run, null, 2)}\n`);
    };
    const result = await withSignals((signal) => {
      const start = performance.now();
      return train(model, setup.batcher, {
        loss: setup.loss,
        tokens: setup.tokens,
        frozen: setup.frozen,
        optimizer,
        schedule: cosineSchedule({ warmupSteps: warmup, totalSteps: steps, minLrRatio: values['min-lr-ratio'] }),
        steps,
        gradAccumulation: values['grad-accum'],
        clipNorm: values.clip === 0 ? undefined : values.clip,
        logEvery: values['log-every'],
        evalEvery: setup.evaluate ? setup.evalEvery : undefined,
        evaluate: setup.evaluate,
        checkpointEvery: values['checkpoint-every'],
        outDir,
        overwrite: values.overwrite,
        saveDtype: job.saveDtype,
        resume: values.resume,
        signal,
        onLog: (r) => process.stderr.write(`${progressLine(r, steps, start, setup.showMetrics ?? {})}\n`),
      }).finally(recordRun);
    });
    await outDir.writeDir('model', (tmp) =>
      saveDecoder(model, tmp, {
        dtype: job.saveDtype,
        extraFiles: (modelOut) => {
          job.tokenizer.save(modelOut.path);
          for (const file of ['tokenizer.json', 'tokenizer_config.json']) modelOut.record(file);
        },
      }),
    );
    outDir.commit();
    failed = false;
    // Q-GaLore's lazy subspace decides how many SVDs it takes: report them.
    const svds = optimizer instanceof QGaLoreAdamW ? { svds: optimizer.svdCount } : {};
    process.stdout.write(`${JSON.stringify({ ...result, ...svds, model: join(out, 'model') })}\n`);
    return result.stopped === 'aborted' ? 130 : 0;
  } finally {
    outDir.close({ failed });
  }
}

/** One stderr line per logged step: loss, LR, throughput, ETA, validation and the chosen metrics. */
function progressLine(r: TrainRecord, steps: number, start: number, show: Readonly<Record<string, string>>): string {
  const eta = ((performance.now() - start) / 1000 / Math.max(1, r.step)) * (steps - r.step);
  const val = r.valPerplexity === undefined ? '' : `  val ppl ${r.valPerplexity.toFixed(2)}`;
  const logged = r.metrics ?? {};
  const metrics = Object.entries(show)
    .filter(([name]) => logged[name] !== undefined)
    .map(([name, label]) => `  ${label} ${logged[name].toFixed(3)}`)
    .join('');
  const rate = r.tokensPerSecond === undefined ? '' : `  ${r.tokensPerSecond.toFixed(0)} tok/s`;
  return `step ${r.step}/${steps}  loss ${r.loss.toFixed(4)}  lr ${r.lr.toExponential(2)}${rate}${metrics}  ETA ${eta.toFixed(0)}s${val}`;
}

/**
 * Run fn with an AbortSignal that Ctrl-C or SIGTERM fires: the loop then finishes its step and writes a checkpoint.
 * A second signal quits at once, without one.
 */
async function withSignals<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSignal = () => {
    if (controller.signal.aborted) {
      process.stderr.write('\nlithe: interrupted again; quitting now without writing a checkpoint\n');
      process.exit(130);
    }
    process.stderr.write(
      '\nlithe: interrupted; finishing this step and writing a checkpoint (again to quit at once)\n',
    );
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await fn(controller.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
