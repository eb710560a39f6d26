import { allocateZeroed, kernelsFor } from '../../backends/kernels.js';
import { scalar } from '../../engine/create.js';
import { asFloat, Tensor } from '../../engine/tensor.js';
import { gt } from '../../ops/elementwise.js';
import { checkSparsity, PruneError } from './errors.js';

/**
 * OWL (Yin et al. 2023, luuyin/OWL lib/prune_all.py check_outlier_mean): the percentage (0..100) of a
 * block's scores above m × their mean, the mean taken over all of the block's Linears together.
 */
export function outlierRatio(scores: readonly (Tensor | Float32Array)[], m: number): number {
  const tensors = scores.map((s) => (s instanceof Float32Array ? new Tensor(s, [s.length], 'f32') : asFloat(s)));
  // One f64 sum over all the block's scores in order, each Linear's added onto the running total.
  const sum = new Tensor(allocateZeroed('f64', 1), [1], 'f64');
  let total = 0;
  for (const t of tensors) {
    total += t.size;
    kernelsFor(t.dtype).accumulateColumns('sum', t.denseStorage(), t.size, 1, sum.denseStorage());
  }
  if (total === 0) throw new PruneError('outlierRatio: no scores');
  // An f64 threshold, so that each f32 score is compared with it exactly.
  const threshold = scalar((sum.item() / total) * m, { dtype: 'f64' });
  const outliers = new Tensor(allocateZeroed('f64', 1), [1], 'f64');
  for (const t of tensors) {
    kernelsFor('bool').accumulateColumns('sum', gt(t, threshold).denseStorage(), t.size, 1, outliers.denseStorage());
  }
  return (outliers.item() / total) * 100;
}

/** The sparsity OWL gives a block whose sparsity would be ≤ 0 (as the reference). */
const MIN_BLOCK_SPARSITY = 0.01;

/**
 * Per-block sparsities from the blocks' outlier ratios D (as prune_wanda_outlier):
 * density = (D − min D) / (max D − min D) · 2λ, shifted so its mean is 1 − S; sparsity = 1 − density.
 * They lie in [S − λ, S + λ] and average S exactly (up to rounding); more outliers → less pruning.
 * A sparsity ≤ 0 becomes 0.01 (then the mean is no longer S). Equal ratios (where the reference
 * divides by zero) give every block S.
 */
export function owlSparsities(outlierRatios: readonly number[], targetSparsity: number, lambda: number): number[] {
  checkSparsity(targetSparsity, 'owlSparsities');
  if (outlierRatios.length === 0) throw new PruneError('owlSparsities: no blocks');
  if (!(lambda >= 0)) throw new PruneError(`owlSparsities: lambda must be ≥ 0, got ${lambda}`);
  const lo = Math.min(...outlierRatios);
  const hi = Math.max(...outlierRatios);
  if (hi === lo) return outlierRatios.map(() => targetSparsity);
  // Same order of operations as the reference: (D − min) · ((1 / (max − min)) · λ · 2).
  const scale = (1 / (hi - lo)) * lambda * 2;
  const spread = outlierRatios.map((d) => (d - lo) * scale);
  const mean = spread.reduce((a, b) => a + b, 0) / spread.length;
  const sparsities = spread.map((x) => {
    const sparsity = 1 - (x - mean + (1 - targetSparsity));
    return sparsity <= 0 ? MIN_BLOCK_SPARSITY : sparsity;
  });
  const worst = sparsities.indexOf(Math.max(...sparsities));
  if (sparsities[worst] >= 1) {
    // The block furthest below the mean outlier ratio gets S + (mean − x); λ scales that gap linearly.
    const largestLambda = (lambda * (1 - targetSparsity)) / (sparsities[worst] - targetSparsity);
    throw new PruneError(
      `OWL λ ${lambda} at sparsity ${targetSparsity} gives block ${worst} a sparsity of ${sparsities[worst].toFixed(4)}; ` +
        `block sparsities must stay below 1, so use λ < ${largestLambda.toFixed(4)}`,
    );
  }
  return sparsities;
}
