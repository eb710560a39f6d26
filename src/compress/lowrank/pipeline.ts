import { type OnProgress, progressReporter, throwIfAborted, yieldOrAbort } from '../../engine/progress.js';
import { singularValuesMany, svdMany } from '../../linalg/index.js';
import type { BlockSequence, NamedLinear } from '../../models/blocks.js';
import type { Linear } from '../../nn/linear.js';
import type { Module } from '../../nn/module.js';
import { globToRegExp } from '../prune/pipeline.js';
import { LowRankError } from './errors.js';
import { type LowRankStorage, reduceLinear, storageFor } from './factorize.js';
import {
  isReduced,
  normalizeSpectrum,
  type RankPlan,
  type Spectrum,
  searchTau,
  thresholdPlan,
  uniformPlan,
} from './spectrum.js';

export type LowRankMethod = 'svd' | 'welore';

/** How far the achieved ERR may be from the target before the result carries a warning. */
export const ERR_TOLERANCE = 0.001;

export interface LowRankOptions {
  /** 'svd': every matrix keeps the same fraction; 'welore': one global threshold τ on the normalised spectra. */
  method: LowRankMethod;
  /** Target effective rank reduction Σ dropped / Σ min(out, in), in (0, 1). */
  err: number;
  /**
   * A matrix is reduced (a Low-rank Component) only when its dropped fraction exceeds this, in [0, 1); the others
   * stay unchanged. Default 0 (compression); WeLore's fine-tuning uses 0.4999.
   */
  minRatio?: number;
  /** WeLore only: use this τ in [0, 1] instead of searching for `err` (to reproduce a run or cross-check one). */
  tau?: number;
  /** Module-name globs ('*' any characters) left unchanged; they still count in the ERR's denominator. */
  skip?: readonly string[];
  onProgress?: OnProgress;
  signal?: AbortSignal;
}

/** What happened to one block Linear. */
export interface LowRankModule {
  name: string;
  /** [out, in]. */
  shape: [number, number];
  /** Components kept (min(out, in) when unchanged). */
  rank: number;
  /** (min(out, in) − rank) / min(out, in). */
  droppedFraction: number;
  stored: LowRankStorage;
}

export interface LowRankResult {
  method: LowRankMethod;
  targetErr: number;
  /** Σ dropped / Σ min(out, in) over all block Linears, as stored (unchanged ones drop nothing). */
  achievedErr: number;
  /** WeLore's threshold (searched, or the one given); null for svd. */
  tau: number | null;
  minRatio: number;
  /** Every block Linear that was not skipped, in model order. */
  modules: LowRankModule[];
  /** The block Linears left unchanged by `skip`. */
  skipped: string[];
  /** All parameters of the model before and after. */
  parameters: { before: number; after: number };
  /** Every non-skipped matrix's spectrum (singular values and their normalised form, f64). */
  spectra: Spectrum[];
  /** e.g. the target ERR could not be reached within ERR_TOLERANCE under minRatio. */
  warnings: string[];
  /** spectra: singular values of every matrix; factorise: the SVDs of the reduced ones and their new weights. */
  seconds: { spectra: number; factorise: number };
}

/** What lowRankCompress needs: the blocks whose Linears it reduces, and the module tree it swaps them in. */
export type LowRankModel = Module & BlockSequence;

/** Refuse options lowRankCompress cannot carry out (LowRankError), before any work. */
export function checkLowRankOptions(options: Omit<LowRankOptions, 'onProgress' | 'signal'>): void {
  const { method, err, minRatio = 0, tau } = options;
  if (method !== 'svd' && method !== 'welore')
    throw new LowRankError(`lowrank: unknown method '${method}' (svd, welore)`);
  if (!(err > 0 && err < 1)) throw new LowRankError(`lowrank: ERR must be in (0, 1), got ${err}`);
  if (!(minRatio >= 0 && minRatio < 1)) throw new LowRankError(`lowrank: min-ratio must be in [0, 1), got ${minRatio}`);
  if (tau !== undefined && method !== 'welore')
    throw new LowRankError('lowrank: tau applies to the welore method only');
  if (tau !== undefined && !(tau >= 0 && tau <= 1))
    throw new LowRankError(`lowrank: tau must be in [0, 1], got ${tau}`);
}

/** A test for the skipped module names; a glob that matches none of `names` is a LowRankError. */
export function skipMatcher(names: readonly string[], globs: readonly string[]): (name: string) => boolean {
  const res = globs.map((glob) => ({ glob, re: globToRegExp(glob) }));
  for (const { glob, re } of res) {
    if (!names.some((name) => re.test(name)))
      throw new LowRankError(`lowrank: --skip '${glob}' matches no block Linear`);
  }
  return (name) => res.some(({ re }) => re.test(name));
}

const parameterCount = (model: Module) => model.parameters().reduce((n, p) => n + p.size, 0);

/**
 * Reduce the ranks of a model's block Linears (a decoder's q, k, v, o, gate, up, down) in place, as the SVD baseline
 * or WeLore (methods-training.md, "WeLore"), in two passes that hold one block's decompositions at a time:
 * 1. the singular values of every matrix (f64, from the f32 weights), giving each matrix's kept rank k: the uniform
 *    rule, or WeLore's global τ on the min-max normalised spectra, searched so that the achieved ERR is within
 *    ERR_TOLERANCE of the target;
 * 2. for each matrix whose dropped fraction exceeds minRatio, its SVD; it becomes a LowRankLinear holding U·√S and
 *    √S·Vᵀ when k·(out + in) < out·in, else keeps its rank-k reconstruction dense. The others are unchanged.
 * Embeddings, norms and lm_head are never touched. A pruned (masked) Linear is refused: its zeros would be lost.
 */
export async function lowRankCompress(model: LowRankModel, options: LowRankOptions): Promise<LowRankResult> {
  checkLowRankOptions(options);
  const { method, err, minRatio = 0, signal, onProgress } = options;
  throwIfAborted(signal);
  const blocks = model.blocks();
  const all = blocks.flatMap((b) => b.linearGroups.flat());
  if (all.length === 0) throw new LowRankError('lowrank: the model has no decoder Linears to reduce');
  const skipped = skipMatcher(
    all.map(({ name }) => name),
    options.skip ?? [],
  );
  for (const { name, linear } of all) {
    if (linear.mask !== null) {
      throw new LowRankError(`lowrank: ${name} is pruned (it has a mask); its zeros would not survive a low-rank form`);
    }
  }
  const total = all.reduce((n, { linear }) => n + Math.min(...linear.weight.shape), 0);
  const before = parameterCount(model);

  // Pass 1: spectra, block by block.
  const spectraStart = performance.now();
  const spectra: Spectrum[] = [];
  const reportSpectra = progressReporter(onProgress, 'spectra', blocks.length, 'blocks');
  for (const [i, block] of blocks.entries()) {
    const kept = block.linearGroups.flat().filter(({ name }) => !skipped(name));
    const values = singularValuesMany(
      kept.map(({ linear }) => linear.weight),
      { dtype: 'f64' },
    );
    for (const [j, { name, linear }] of kept.entries()) {
      spectra.push({ name, shape: shapeOf(linear), values: values[j], normalized: normalizeSpectrum(values[j]) });
    }
    reportSpectra(i + 1);
    await yieldOrAbort(signal);
  }
  const spectraSeconds = (performance.now() - spectraStart) / 1000;

  const plan: RankPlan =
    method === 'svd'
      ? uniformPlan(spectra, err, minRatio, total)
      : options.tau !== undefined
        ? thresholdPlan(spectra, options.tau, minRatio, total)
        : searchTau(spectra, err, minRatio, total);
  const warnings: string[] = [];
  if (options.tau === undefined && Math.abs(plan.achievedErr - err) > ERR_TOLERANCE) {
    warnings.push(
      `lowrank: the closest achievable ERR is ${plan.achievedErr.toFixed(4)} (target ${err}): with min-ratio ${minRatio}, a matrix is reduced by more than ${minRatio} of its rank or not at all`,
    );
  }

  // Pass 2: decompose and replace the reduced matrices, block by block.
  const factoriseStart = performance.now();
  const modules: LowRankModule[] = [];
  const reportFactorise = progressReporter(onProgress, 'factorise', blocks.length, 'blocks');
  for (const [i, block] of blocks.entries()) {
    const entries = block.linearGroups.flat().filter(({ name }) => !skipped(name));
    const targets = entries.map((entry) => reduction(entry, plan.ranks.get(entry.name) as number, minRatio));
    // One batch per block: the SVDs of its reduced matrices run side by side on the native pool.
    const reduced = entries.flatMap((entry, j) => {
      const { rank, stored } = targets[j];
      return stored === 'unchanged' ? [] : [{ ...entry, rank, stored }];
    });
    const decompositions = svdMany(
      reduced.map(({ linear }) => linear.weight),
      { dtype: 'f64' },
    );
    for (const [j, { name, linear, rank, stored }] of reduced.entries()) {
      reduceLinear(model, name, linear, decompositions[j], rank, stored);
    }
    modules.push(...targets);
    reportFactorise(i + 1);
    await yieldOrAbort(signal);
  }
  return {
    method,
    targetErr: err,
    achievedErr: plan.achievedErr,
    tau: plan.tau,
    minRatio,
    modules,
    skipped: all.filter(({ name }) => skipped(name)).map(({ name }) => name),
    parameters: { before, after: parameterCount(model) },
    spectra,
    warnings,
    seconds: { spectra: spectraSeconds, factorise: (performance.now() - factoriseStart) / 1000 },
  };
}

const shapeOf = (linear: Linear): [number, number] => [linear.outFeatures, linear.inFeatures];

/** What becomes of one block Linear planned to keep `rank` components: reduced when that drops more than minRatio. */
function reduction({ name, linear }: NamedLinear, rank: number, minRatio: number): LowRankModule {
  const shape = shapeOf(linear);
  const width = Math.min(...shape);
  const droppedFraction = (width - rank) / width;
  if (!isReduced(width, rank, minRatio)) {
    return { name, shape, rank: width, droppedFraction: 0, stored: 'unchanged' };
  }
  return { name, shape, rank, droppedFraction, stored: storageFor(shape, rank) };
}
