import { asFloat, fromFloat, type Tensor } from '../../engine/tensor.js';
import type { Linear } from '../../nn/linear.js';
import { PruneError } from './errors.js';
import { applyMask, nmMask, unstructuredMask } from './mask.js';
import { magnitudeScores, wandaScores } from './scores.js';
import { sparsegptPrune } from './sparsegpt.js';
import type { InputStats } from './stats.js';

export type PruneMethod = 'magnitude' | 'wanda' | 'sparsegpt';

/** What one Linear is pruned to. */
export interface PruneTarget {
  /** Fraction of the weights removed (the block's allocation). */
  sparsity: number;
  /** N:M pattern [n, m], already checked against the Linear's input width. */
  nm?: [number, number];
  /** Magnitude's comparison group: per output row or the whole matrix. */
  magnitudeGroup: 'row' | 'layer';
}

/** One pruning method: the input statistics it reads, and how it prunes one Linear. */
export interface PruneStrategy {
  /** none (magnitude), Σx² per input column (wanda), or Σx² and the Hessian (sparsegpt). */
  statistics: 'none' | 'normsSq' | 'hessian';
  /** Prune the Linear's weight in place; stats are its input's (null when statistics is none). Returns the keep mask. */
  prune(linear: Linear, stats: InputStats | null, target: PruneTarget): Uint8Array;
}

/** Zero the weights of w whose scores are lowest: per N:M group, or unstructured within `group`. */
function pruneByScores(w: Tensor, scores: Tensor, target: PruneTarget, group: 'row' | 'layer'): Uint8Array {
  const { nm, sparsity } = target;
  const mask = nm ? nmMask(scores, nm[0], nm[1]) : unstructuredMask(scores, sparsity, { group });
  applyMask(w, mask);
  return mask;
}

/** SparseGPT on w in place: directly on f32 storage, else on an f32 copy written back in w's dtype. */
function sparsegptInPlace(w: Tensor, hessian: Float64Array, sparsity: number, nm?: [number, number]): Uint8Array {
  if (!w.isContiguous()) throw new PruneError('pruneModel: a weight must be contiguous to be pruned in place');
  if (w.dtype === 'f32') {
    return sparsegptPrune(w.data.subarray(w.offset, w.offset + w.size) as Float32Array, hessian, { sparsity, nm }).mask;
  }
  const copy = Float32Array.from(asFloat(w).floatData());
  const { mask } = sparsegptPrune(copy, hessian, { sparsity, nm });
  w.data.set(fromFloat(copy, w.shape).to(w.dtype).data as never, w.offset);
  return mask;
}

/** The methods pruneModel runs, by name (methods-pruning.md). */
export const PRUNE_STRATEGIES: Readonly<Record<PruneMethod, PruneStrategy>> = {
  magnitude: {
    statistics: 'none',
    prune: (linear, _stats, target) =>
      pruneByScores(linear.weight, magnitudeScores(linear.weight), target, target.magnitudeGroup),
  },
  wanda: {
    statistics: 'normsSq',
    prune: (linear, stats, target) =>
      pruneByScores(linear.weight, wandaScores(linear.weight, (stats as InputStats).normsSq), target, 'row'),
  },
  sparsegpt: {
    statistics: 'hessian',
    prune: (linear, stats, target) =>
      sparsegptInPlace(linear.weight, (stats as InputStats).hessian(), target.sparsity, target.nm),
  },
};
