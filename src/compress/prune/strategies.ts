import type { Tensor } from '../../engine/tensor.js';
import type { Linear } from '../../nn/linear.js';
import { assign_ } from '../../ops/assign.js';
import { nmMask, unstructuredMask } from './mask.js';
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

/** One pruning method: the input statistics it reads, and how it chooses one Linear's mask. */
export interface PruneStrategy {
  /** none (magnitude), Σx² per input column (wanda), or Σx² and the Hessian (sparsegpt). */
  statistics: 'none' | 'normsSq' | 'hessian';
  /**
   * The Linear's keep mask (bool [out, in], true = kept); stats are its input's (null when statistics is none). It may
   * update the kept weights (SparseGPT); pruneModel then sets the mask on the Linear, which zeroes the pruned ones.
   */
  prune(linear: Linear, stats: InputStats | null, target: PruneTarget): Tensor;
}

/** The mask keeping the highest scores: per N:M group, or unstructured within `group`. */
function maskByScores(scores: Tensor, target: PruneTarget, group: 'row' | 'layer'): Tensor {
  const { nm, sparsity } = target;
  return nm ? nmMask(scores, nm[0], nm[1]) : unstructuredMask(scores, sparsity, { group });
}

/** SparseGPT on an f32 copy of w, whose updated values are written back into w (in w's dtype). */
function sparsegptUpdate(w: Tensor, hessian: Tensor, sparsity: number, nm?: [number, number]): Tensor {
  const { weight, mask } = sparsegptPrune(w, hessian, { sparsity, nm });
  assign_(w, weight);
  return mask;
}

/** The methods pruneModel runs, by name (methods-pruning.md). */
export const PRUNE_STRATEGIES: Readonly<Record<PruneMethod, PruneStrategy>> = {
  magnitude: {
    statistics: 'none',
    prune: (linear, _stats, target) => maskByScores(magnitudeScores(linear.weight), target, target.magnitudeGroup),
  },
  wanda: {
    statistics: 'normsSq',
    prune: (linear, stats, target) =>
      maskByScores(wandaScores(linear.weight, (stats as InputStats).normsSq), target, 'row'),
  },
  sparsegpt: {
    statistics: 'hessian',
    prune: (linear, stats, target) =>
      sparsegptUpdate(linear.weight, (stats as InputStats).hessian(), target.sparsity, target.nm),
  },
};
