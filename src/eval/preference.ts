import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { noGrad } from '../engine/autograd.js';
import { type OnProgress, progressReporter } from '../engine/progress.js';
import type { CausalLM } from '../models/causal-lm.js';
import { positiveInteger } from '../train/batches.js';
import {
  checkPairs,
  outcomeProbabilities,
  type PairLogProbTable,
  type PreferenceIds,
  type PreferenceLayout,
  preferenceBatch,
  preferenceDefaults,
  sequenceLogProbs,
} from '../train/preference.js';

export interface PairLogProbsOptions extends PreferenceLayout {
  /** Pairs per forward pass (default 8). */
  batchSize?: number;
  onProgress?: OnProgress;
}

/**
 * The log-probabilities of every pair's two answers under `model`, without gradients. As the reference of
 * preferenceObjective it is TRL's precompute_ref_log_probs: computed once, so the reference model need not stay in
 * memory while training.
 */
export async function pairLogProbs(
  model: CausalLM,
  pairs: readonly PreferenceIds[],
  options: PairLogProbsOptions = {},
): Promise<PairLogProbTable> {
  const batchSize = positiveInteger(options.batchSize ?? 8, 'batchSize');
  checkPairs(pairs, options);
  const chosen = new Float64Array(pairs.length);
  const rejected = new Float64Array(pairs.length);
  const report = progressReporter(options.onProgress, 'score', pairs.length, 'pair');
  for (let start = 0; start < pairs.length; start += batchSize) {
    const rows = Array.from({ length: Math.min(batchSize, pairs.length - start) }, (_, i) => start + i);
    const values = noGrad(() => sequenceLogProbs(model, preferenceBatch(pairs, rows, options).sequences)).toArray();
    for (const [i, row] of rows.entries()) {
      chosen[row] = values[i];
      rejected[row] = values[rows.length + i];
    }
    report(start + rows.length);
    // Let Ctrl-C and progress output through between batches.
    await yieldToEventLoop();
  }
  return { chosen, rejected };
}

export interface PreferenceEvalOptions extends PreferenceLayout {
  /** β of d = β·Δ, for the three-way outcome and the reward margin (default 0.1). */
  beta?: number;
  /** TODO's tie margin α of the three-way outcome (default 0.5). */
  alpha?: number;
  /** Pairs per forward pass (default 8). */
  batchSize?: number;
  onProgress?: OnProgress;
}

export interface PreferenceEvalResult {
  pairs: number;
  ties: number;
  /** Non-tie pairs whose chosen answer the policy prefers over the reference's view, Δ > 0 (NaN without any). */
  accuracy: number;
  /** Every pair: its own outcome (win for a non-tie pair, tie for a tie) has the highest TODO probability. */
  threeWayAccuracy: number;
  /** Tie pairs predicted as ties by the three-way rule (NaN without any). */
  tieAccuracy: number;
  /** Mean implicit reward margin β·Δ over non-tie pairs (NaN without any). */
  meanRewardMargin: number;
}

/** Whether `outcome` is (one of) the most probable of TODO's three at d; a tie for the top counts, as XXares/TODO. */
function isMostProbable(outcome: 'win' | 'tie', d: number, alpha: number): boolean {
  const p = outcomeProbabilities(d, alpha);
  return p[outcome] >= Math.max(p.win, p.loss, p.tie);
}

/**
 * Preference accuracy of a policy against its reference on held-out pairs. DPO's: a non-tie pair is right when the
 * policy's log-ratio margin Δ = [log πθ(y⁺) − log πref(y⁺)] − [log πθ(y⁻) − log πref(y⁻)] is positive. TODO's
 * three-way: a pair is right when its own outcome is the most probable of win, loss and tie at d = β·Δ (see
 * outcomeProbabilities; with α ≤ ln 2 a tie is never the most probable).
 */
export async function preferenceAccuracy(
  policy: CausalLM,
  reference: CausalLM | PairLogProbTable,
  pairs: readonly PreferenceIds[],
  options: PreferenceEvalOptions = {},
): Promise<PreferenceEvalResult> {
  const { beta, alpha } = preferenceDefaults({ beta: options.beta, alpha: options.alpha });
  const scored = await pairLogProbs(policy, pairs, options);
  // A policy scored against itself (no separate reference) is scored once.
  const ref =
    'chosen' in reference ? reference : reference === policy ? scored : await pairLogProbs(reference, pairs, options);
  let nonTie = 0;
  let right = 0;
  let threeWayRight = 0;
  let tiesRight = 0;
  let marginSum = 0;
  for (const [i, pair] of pairs.entries()) {
    const margin = scored.chosen[i] - ref.chosen[i] - (scored.rejected[i] - ref.rejected[i]);
    if (pair.tie) {
      if (isMostProbable('tie', beta * margin, alpha)) {
        tiesRight += 1;
        threeWayRight += 1;
      }
    } else {
      nonTie += 1;
      marginSum += beta * margin;
      if (margin > 0) right += 1;
      if (isMostProbable('win', beta * margin, alpha)) threeWayRight += 1;
    }
  }
  const ties = pairs.length - nonTie;
  return {
    pairs: pairs.length,
    ties,
    accuracy: right / nonTie,
    threeWayAccuracy: threeWayRight / pairs.length,
    tieAccuracy: tiesRight / ties,
    meanRewardMargin: marginSum / nonTie,
  };
}
