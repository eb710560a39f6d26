import { OptimizerError } from './optim/optimizer.js';

/**
 * A learning-rate schedule: the factor applied to each group's base LR at a 0-based optimiser step
 * (transformers' `lr_lambda`). The loop calls `optimizer.setLrFactor(schedule(step))` before `step()`.
 */
export type LrSchedule = (step: number) => number;

export interface WarmupOptions {
  /** Steps of linear warmup from 0 (default 0). */
  warmupSteps?: number;
}

export interface DecayOptions extends WarmupOptions {
  /** Steps over which the factor decays from 1 to `minLrRatio`. */
  totalSteps: number;
  /** The factor the decay ends at (default 0). */
  minLrRatio?: number;
}

export interface CosineOptions extends DecayOptions {
  /** Cosine periods over the decay (default 0.5: one half-wave from 1 down to the minimum). */
  cycles?: number;
}

function checkOptions(warmupSteps: number, totalSteps: number, minLrRatio: number): void {
  if (!(Number.isInteger(warmupSteps) && warmupSteps >= 0)) {
    throw new OptimizerError(`warmupSteps must be a non-negative integer, got ${warmupSteps}`);
  }
  if (!(totalSteps >= warmupSteps)) {
    throw new OptimizerError(`totalSteps (${totalSteps}) must be at least warmupSteps (${warmupSteps})`);
  }
  if (!(minLrRatio >= 0 && minLrRatio <= 1)) {
    throw new OptimizerError(`minLrRatio must be in [0, 1], got ${minLrRatio}`);
  }
}

/** step / warmupSteps during warmup, else `after(step)`; written as transformers does, for identical values. */
function withWarmup(warmupSteps: number, after: LrSchedule): LrSchedule {
  return (step) => (step < warmupSteps ? step / Math.max(1, warmupSteps) : after(step));
}

/** Rescale a factor decaying to 0 so that it decays to minLrRatio instead (transformers' `min_lr_rate`). */
function floorAt(factor: number, minLrRatio: number): number {
  return Math.max(0, factor * (1 - minLrRatio) + minLrRatio);
}

/** Warmup, then a constant factor of 1 (transformers' get_constant_schedule_with_warmup). */
export function constantSchedule(options: WarmupOptions = {}): LrSchedule {
  const warmupSteps = options.warmupSteps ?? 0;
  checkOptions(warmupSteps, warmupSteps, 0);
  return withWarmup(warmupSteps, () => 1);
}

/** Warmup, then linear decay to minLrRatio at totalSteps (transformers' get_linear_schedule_with_warmup). */
export function linearSchedule(options: DecayOptions): LrSchedule {
  const { warmupSteps = 0, totalSteps, minLrRatio = 0 } = options;
  checkOptions(warmupSteps, totalSteps, minLrRatio);
  const decaySteps = Math.max(1, totalSteps - warmupSteps);
  return withWarmup(warmupSteps, (step) => floorAt(Math.max(0, (totalSteps - step) / decaySteps), minLrRatio));
}

/**
 * Warmup, then cosine decay to minLrRatio (transformers' get_cosine_schedule_with_warmup, and with
 * minLrRatio its get_cosine_with_min_lr_schedule_with_warmup). Like those, it is not clamped past totalSteps.
 */
export function cosineSchedule(options: CosineOptions): LrSchedule {
  const { warmupSteps = 0, totalSteps, minLrRatio = 0, cycles = 0.5 } = options;
  checkOptions(warmupSteps, totalSteps, minLrRatio);
  const decaySteps = Math.max(1, totalSteps - warmupSteps);
  return withWarmup(warmupSteps, (step) => {
    const progress = (step - warmupSteps) / decaySteps;
    return floorAt(0.5 * (1 + Math.cos(Math.PI * cycles * 2 * progress)), minLrRatio);
  });
}
