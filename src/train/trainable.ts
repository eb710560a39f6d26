import { UsageError } from '../engine/errors.js';
import { LowRankLinear } from '../nn/low-rank-linear.js';
import type { Module } from '../nn/module.js';

/**
 * Which parameters a run trains: 'all', or 'lrc' (WeLore's recipe): only the U and V factors of the factorised
 * Linears (the Low-rank Components); embeddings, norms, lm_head and the dense Linears stay frozen.
 */
export type TrainableSet = 'all' | 'lrc';

/** The optimiser settings WeLore fine-tunes its Low-rank Components with: AdamW, lr 5e-5, no weight decay. */
export const LRC_RECIPE = { lr: 5e-5, weightDecay: 0 } as const;

/**
 * Freeze every parameter outside `set` (requiresGrad false: no gradient is computed or stored for it, and
 * decayGroups leaves it out of the optimiser). Returns the trained and frozen parameter counts; 'lrc' on a model
 * with no factorised Linear is a UsageError.
 */
export function restrictTraining(model: Module, set: TrainableSet): { trained: number; frozen: number } {
  const trained = new Set<string>();
  if (set === 'all') {
    for (const [name, p] of model.namedParameters()) if (p.requiresGrad) trained.add(name);
  } else {
    for (const [name, m] of model.namedModules()) {
      if (m instanceof LowRankLinear) for (const param of m.namedParameters(`${name}.`).keys()) trained.add(param);
    }
    if (trained.size === 0) {
      throw new UsageError('--trainable lrc: the model has no factorised Linears (make them with lithe lowrank)');
    }
  }
  let [nTrained, nFrozen] = [0, 0];
  for (const [name, p] of model.namedParameters()) {
    if (trained.has(name)) nTrained += p.size;
    else {
      p.requiresGrad_(false);
      nFrozen += p.size;
    }
  }
  return { trained: nTrained, frozen: nFrozen };
}
