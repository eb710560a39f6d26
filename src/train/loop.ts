import { appendFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { noGrad } from '../engine/autograd.js';
import { LitheError } from '../engine/errors.js';
import type { OnProgress } from '../engine/progress.js';
import { Tensor } from '../engine/tensor.js';
import { type OutputDir, withOutputDir } from '../io/output-dir.js';
import type { Module } from '../nn/module.js';
import { mul } from '../ops/elementwise.js';
import type { Batch, Batcher } from './batches.js';
import {
  type CheckpointableOptimizer,
  hasTrainingCheckpoint,
  loadTrainingCheckpoint,
  saveTrainingCheckpoint,
} from './checkpoint.js';
import { clipGradNorm } from './clip.js';
import type { LrSchedule } from './schedule.js';

/** A training run that cannot start or go on: bad options, a missing checkpoint, or a non-finite loss. */
export class TrainError extends LitheError {
  constructor(
    message: string,
    /** The step at fault, when the run stopped at one. */
    readonly step: number | null = null,
  ) {
    super(step === null ? message : `step ${step}: ${message}`);
  }
}

/** The optimiser interface the loop drives; any `Optimizer` subclass (AdamW, SGD, GaLore, ...) fits. */
export interface TrainOptimizer extends CheckpointableOptimizer {
  readonly groups: readonly { readonly params: readonly Tensor[]; readonly lr: number }[];
  zeroGrad(): void;
  step(): void;
  setLrFactor(factor: number): void;
}

/**
 * A loss with the batch's metrics beside it: detached scalars (e.g. DPO's rewards/chosen). A NaN metric (a mean over
 * no rows, such as the tie loss of a batch without ties) is left out of the logged mean.
 */
export interface LossWithMetrics {
  loss: Tensor;
  metrics: Record<string, Tensor>;
}

/** A training objective: the scalar loss of one batch (e.g. causalLmLoss, or a DPO loss over chosen/rejected pairs). */
export type LossFn<M, B> = (model: M, batch: B) => Tensor | LossWithMetrics;

/** One logged line; also appended to outDir/metrics.jsonl. */
export interface TrainRecord {
  step: number;
  /** This step's loss, averaged over its micro-batches. */
  loss: number;
  /** The first group's learning rate used for this step. */
  lr: number;
  /** Training tokens per second since the previous record (when TrainOptions.tokens counts them). */
  tokensPerSecond?: number;
  /** Total gradient norm before clipping (when clipping). */
  gradNorm?: number;
  valPerplexity?: number;
  /**
   * The loss function's metrics, each the mean over the micro-batches since the previous record (the first record
   * after a resume averages only the steps taken since the resume).
   */
  metrics?: Record<string, number>;
  elapsedSeconds: number;
}

/** train()'s options for a model M trained on batches B. */
export interface TrainOptions<M extends Module = Module, B = Batch> {
  /** The scalar loss of a micro-batch, e.g. causalLmLoss; it may run the frozen models too. */
  loss: LossFn<M, B>;
  /** The tokens (or samples) of a batch, for TrainRecord.tokensPerSecond, e.g. causalLmTokens; none: not reported. */
  tokens?: (batch: B) => number;
  /**
   * Models the loss reads but does not train (e.g. DPO's reference): put in eval mode, their parameters stop requiring
   * grad, and none may be one the optimiser updates.
   */
  frozen?: readonly Module[];
  /** Updates the trained model's parameters (only those it holds are trained). */
  optimizer: TrainOptimizer;
  /** LR factor per 0-based step (default constant 1). */
  schedule?: LrSchedule;
  /** Total optimiser steps, counting those before a resume. */
  steps: number;
  /** Micro-batches per optimiser step (default 1). */
  gradAccumulation?: number;
  /** Clip the global gradient norm to this. */
  clipNorm?: number;
  /** Log every this many steps, and at the last one (default 10). */
  logEvery?: number;
  /** Call `evaluate` every this many steps; it is always called at the last one. */
  evalEvery?: number;
  /** Validation metric, run without gradients; may be async (perplexity is). */
  evaluate?: () => { perplexity: number } | Promise<{ perplexity: number }>;
  /** Checkpoint every this many steps; a final checkpoint is always written when outDir is set. */
  checkpointEvery?: number;
  /**
   * Where metrics.jsonl and checkpoint/ go: a path, which train() opens (validated and locked) and closes, or an
   * OutputDir the caller opened, commits and closes (e.g. to save the final model into it too).
   */
  outDir?: string | OutputDir;
  /** Start a new run in an outDir that already holds one, replacing lithe's checkpoint and metrics there. */
  overwrite?: boolean;
  /** Storage dtype of the checkpoint's HF weights (default f32; bf16 and f16 also keep f32 copies for resuming). */
  saveDtype?: 'f32' | 'bf16' | 'f16';
  /** Continue from outDir/checkpoint, bit-for-bit as if the run had not stopped. */
  resume?: boolean;
  /** Called after every step (1-based `done`), before its log line: aborting here makes that step the last one. */
  onProgress?: OnProgress;
  onLog?: (record: TrainRecord) => void;
  /** Aborting finishes the current step, writes a checkpoint and returns `stopped: 'aborted'`. */
  signal?: AbortSignal;
}

export interface TrainResult {
  stopped: 'completed' | 'aborted';
  /** Steps taken in total, including those before a resume. */
  step: number;
  /** The last step's loss (NaN when no step was taken in this call). */
  loss: number;
  elapsedSeconds: number;
}

export const METRICS_FILE = 'metrics.jsonl';
export const CHECKPOINT_DIR = 'checkpoint';

function checkEvery(value: number | undefined, what: string): void {
  if (value !== undefined && !(Number.isInteger(value) && value > 0)) {
    throw new TrainError(`${what} must be a positive integer, got ${value}`);
  }
}

interface StepOutcome {
  /** The micro-batches' losses, detached scalars, still on the backend: read when the step is logged. */
  losses: Tensor[];
  /** The micro-batches' metrics (LossWithMetrics), also read only when logged. */
  metrics: Record<string, Tensor>[];
  lr: number;
  tokens: number;
  gradNorm?: number;
}

/**
 * One optimiser step (1-based `step`). The loss stays a tensor, so the step does not wait for a host read; a
 * non-finite gradient norm (read anyway when clipping) throws before the weights change.
 */
function takeStep<M extends Module, B>(
  model: M,
  batcher: Batcher<B>,
  options: TrainOptions<M, B>,
  schedule: LrSchedule,
  step: number,
): StepOutcome {
  const { optimizer, clipNorm } = options;
  const gradAccumulation = options.gradAccumulation ?? 1;
  optimizer.zeroGrad();
  const losses: Tensor[] = [];
  const metrics: Record<string, Tensor>[] = [];
  let tokens = 0;
  for (let micro = 0; micro < gradAccumulation; micro++) {
    const batch = batcher.next();
    const result = options.loss(model, batch);
    const microLoss = result instanceof Tensor ? result : result.loss;
    if (!(result instanceof Tensor)) metrics.push(result.metrics);
    if (microLoss.size !== 1) throw new TrainError(`the loss must be a scalar, got shape [${microLoss.shape}]`, step);
    // Scaled so that the accumulated gradient is that of the mean loss over all micro-batches.
    (gradAccumulation === 1 ? microLoss : mul(microLoss, 1 / gradAccumulation)).backward();
    losses.push(microLoss.detach());
    tokens += options.tokens?.(batch) ?? 0;
  }
  const params = optimizer.groups.flatMap((g) => g.params);
  const gradNorm = clipNorm === undefined ? undefined : clipGradNorm(params, clipNorm);
  if (gradNorm !== undefined && !Number.isFinite(gradNorm)) {
    throw new TrainError(`the gradient norm is ${gradNorm}; the weights were not updated`, step);
  }
  optimizer.setLrFactor(schedule(step - 1));
  const lr = optimizer.groups[0].lr;
  optimizer.step();
  // Gradients are not needed past the update; dropping them frees memory for evaluation and checkpoints.
  optimizer.zeroGrad();
  return { losses, metrics, lr, tokens, gradNorm };
}

/** A scalar's value on the host: the loop's one read of the loss, made only when a step is logged or checkpointed. */
async function readScalar(t: Tensor): Promise<number> {
  return t.item();
}

/** The trained model in train mode; the frozen ones in eval mode, out of autograd, and holding no trained parameter. */
function prepareModels(model: Module, options: TrainOptions<never, never>): void {
  const trained = new Set(options.optimizer.groups.flatMap((g) => g.params));
  for (const frozen of options.frozen ?? []) {
    for (const [name, param] of frozen.namedParameters()) {
      if (trained.has(param)) throw new TrainError(`frozen model parameter '${name}' is one the optimiser updates`);
      param.requiresGrad_(false);
    }
    frozen.eval();
  }
  model.train();
}

/** Each metric's mean over the micro-batches that have it (NaN values left out); none: undefined. */
async function meanMetrics(batches: readonly Record<string, Tensor>[]): Promise<Record<string, number> | undefined> {
  const totals = new Map<string, { sum: number; count: number }>();
  for (const metrics of batches) {
    for (const [name, value] of Object.entries(metrics)) {
      const v = await readScalar(value);
      const total = totals.get(name) ?? { sum: 0, count: 0 };
      if (!Number.isNaN(v)) totals.set(name, { sum: total.sum + v, count: total.count + 1 });
      else totals.set(name, total);
    }
  }
  if (totals.size === 0) return undefined;
  return Object.fromEntries([...totals].filter(([, t]) => t.count > 0).map(([name, t]) => [name, t.sum / t.count]));
}

/** A record as metrics.jsonl has it: the loss function's metrics flat beside the loop's own keys, as TRL logs them. */
function metricsLine(record: TrainRecord): Record<string, unknown> {
  const { metrics, ...line } = record;
  return { ...line, ...metrics };
}

/** The step of a metrics line, or null for a line cut short by a crash. */
function recordStep(line: string): number | null {
  try {
    return (JSON.parse(line) as TrainRecord).step;
  } catch {
    return null;
  }
}

/** Keep only complete records up to `step`, so that a resumed run does not log steps twice; none left, no file. */
function truncateMetrics(out: OutputDir, step: number): void {
  const file = join(out.path, METRICS_FILE);
  if (!existsSync(file)) return;
  const kept = readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => {
      const at = recordStep(line);
      return at !== null && at <= step;
    });
  if (kept.length === 0) rmSync(file);
  else out.writeFile(METRICS_FILE, kept.map((line) => `${line}\n`).join(''));
}

/** The run files `dir` already holds. */
function runFiles(dir: string): string[] {
  return [METRICS_FILE, CHECKPOINT_DIR].filter((name) => existsSync(join(dir, name)));
}

/** Whether `dir` already holds a training run (metrics.jsonl or checkpoint/). */
export function holdsTrainingRun(dir: string): boolean {
  return runFiles(dir).length > 0;
}

/** Refuse to start a new run over an existing one by accident; checked before the directory is even opened. */
function refuseExistingRun(dir: string, options: TrainOptions<never, never>): void {
  if (options.resume || options.overwrite || !holdsTrainingRun(dir)) return;
  throw new TrainError(
    `${dir} already holds a training run; pass --resume to continue it or --overwrite to start over`,
  );
}

/** Claim the run files this run carries on (resume) or replaces (overwrite; only those lithe wrote). */
function claimRunFiles(out: OutputDir, options: TrainOptions<never, never>): void {
  for (const name of runFiles(out.path)) {
    if (options.resume) out.record(name);
    else if (!out.owns(name)) {
      throw new TrainError(`${join(out.path, name)} was not written by lithe; move it away to start over`);
    }
  }
}

/**
 * Train `model` on the batcher's batches with `options.loss`: each step zeroes the gradients, runs `gradAccumulation`
 * micro-batches (loss / gradAccumulation, backward), optionally clips, sets the scheduled LR and updates.
 * Losses are read from the backend only when a step is logged and before each checkpoint, so that a step never
 * waits on a scalar read. A non-finite loss is found there: the run throws a TrainError naming the first step whose
 * loss was not finite. Weights in memory may already have been updated by that step and the ones after it up to the
 * read, but no checkpoint is written past it. With clipNorm, a non-finite gradient norm throws before the update.
 */
export async function train<M extends Module, B>(
  model: M,
  batcher: Batcher<B>,
  options: TrainOptions<M, B>,
): Promise<TrainResult> {
  const { outDir } = options;
  checkEvery(options.steps, 'steps');
  checkEvery(options.gradAccumulation, 'gradAccumulation');
  checkEvery(options.logEvery, 'logEvery');
  checkEvery(options.evalEvery, 'evalEvery');
  checkEvery(options.checkpointEvery, 'checkpointEvery');
  if (!outDir && (options.checkpointEvery !== undefined || options.resume)) {
    throw new TrainError('checkpointEvery and resume need an outDir');
  }
  prepareModels(model, options);
  if (typeof outDir !== 'string') {
    if (outDir) refuseExistingRun(outDir.path, options);
    return runTraining(model, batcher, options, outDir);
  }
  refuseExistingRun(outDir, options);
  // Resuming writes into the run's own directory, whichever lithe version wrote it.
  const openOptions = { overwrite: options.overwrite || options.resume, what: 'outDir', kind: 'train-run' };
  return withOutputDir(outDir, openOptions, (out) => runTraining(model, batcher, options, out));
}

/** The loop itself, writing into `out` when given. */
async function runTraining<M extends Module, B>(
  model: M,
  batcher: Batcher<B>,
  options: TrainOptions<M, B>,
  out: OutputDir | undefined,
): Promise<TrainResult> {
  const { optimizer, steps, evaluate, signal } = options;
  const schedule = options.schedule ?? (() => 1);
  const logEvery = options.logEvery ?? 10;
  const gradAccumulation = options.gradAccumulation ?? 1;

  let step = 0;
  let priorSeconds = 0;
  if (out) {
    claimRunFiles(out, options);
    if (options.resume) {
      const checkpointDir = join(out.path, CHECKPOINT_DIR);
      if (!hasTrainingCheckpoint(checkpointDir))
        throw new TrainError(`no training checkpoint to resume in ${checkpointDir}`);
      const restored = loadTrainingCheckpoint(checkpointDir, model, optimizer);
      batcher.setState(restored.batcher);
      step = restored.step;
      priorSeconds = restored.elapsedSeconds;
    }
    truncateMetrics(out, step);
  }
  const metricsFile = out && join(out.path, METRICS_FILE);
  let metricsRecorded = false;

  // The losses of the steps taken since they were last read.
  const unread: { step: number; losses: Tensor[] }[] = [];
  let checkpointedStep = step;
  /** Read the unread steps' losses; throws at the first non-finite one. Returns the last step's (mean) loss. */
  const readLosses = async (): Promise<number> => {
    let last = Number.NaN;
    for (const taken of unread.splice(0)) {
      const values = await Promise.all(taken.losses.map(readScalar));
      const bad = values.find((v) => !Number.isFinite(v));
      if (bad !== undefined) {
        throw new TrainError(`the loss is ${bad}; no checkpoint was written past step ${checkpointedStep}`, taken.step);
      }
      last = values.reduce((sum, v) => sum + v / gradAccumulation, 0);
    }
    return last;
  };

  const startStep = step;
  const start = performance.now();
  const elapsed = () => priorSeconds + (performance.now() - start) / 1000;
  const checkpoint = async () => {
    if (!out) return;
    await readLosses();
    const loop = { step, elapsedSeconds: elapsed(), batcher: batcher.getState() };
    await saveTrainingCheckpoint(out, CHECKPOINT_DIR, model, optimizer, loop, {
      dtype: options.saveDtype,
    });
    checkpointedStep = step;
  };
  let loss = Number.NaN;
  let tokensSinceLog = 0;
  let metricsSinceLog: Record<string, Tensor>[] = [];
  let lastLogTime = start;
  while (step < steps && !signal?.aborted) {
    const taken = takeStep(model, batcher, options, schedule, step + 1);
    step += 1;
    unread.push({ step, losses: taken.losses });
    tokensSinceLog += taken.tokens;
    metricsSinceLog.push(...taken.metrics);
    if (options.onProgress) {
      const seconds = (performance.now() - start) / 1000;
      const rate = seconds > 0 ? (step - startStep) / seconds : undefined;
      const etaSeconds = rate ? (steps - step) / rate : undefined;
      options.onProgress({ phase: 'train', done: step, total: steps, unit: 'step', rate, etaSeconds });
    }

    const last = step === steps || signal?.aborted === true;
    const evaluateNow = evaluate && (last || (options.evalEvery !== undefined && step % options.evalEvery === 0));
    if (step % logEvery === 0 || last || evaluateNow) {
      loss = await readLosses();
      const now = performance.now();
      const tokensPerSecond = tokensSinceLog / Math.max((now - lastLogTime) / 1000, 1e-9);
      const record: TrainRecord = {
        step,
        loss,
        lr: taken.lr,
        ...(options.tokens && { tokensPerSecond }),
        elapsedSeconds: elapsed(),
      };
      if (taken.gradNorm !== undefined) record.gradNorm = taken.gradNorm;
      const metrics = await meanMetrics(metricsSinceLog);
      if (metrics) record.metrics = metrics;
      metricsSinceLog = [];
      if (evaluateNow) {
        record.valPerplexity = (await noGrad(evaluate)).perplexity;
        model.train(); // evaluate may have put it in eval mode
      }
      tokensSinceLog = 0;
      lastLogTime = now;
      if (out && metricsFile) {
        appendFileSync(metricsFile, `${JSON.stringify(metricsLine(record))}\n`);
        if (!metricsRecorded) out.record(METRICS_FILE);
        metricsRecorded = true;
      }
      options.onLog?.(record);
    }
    if (!last && options.checkpointEvery !== undefined && step % options.checkpointEvery === 0) await checkpoint();
    // Let timers and signal handlers (Ctrl-C) run between steps.
    await yieldToEventLoop();
  }
  if (step > startStep) await checkpoint();
  return { stopped: step < steps ? 'aborted' : 'completed', step, loss, elapsedSeconds: elapsed() };
}
