import { asFloat, type Tensor } from '../../engine/tensor.js';
import { checkSparsity, PruneError } from './errors.js';

/**
 * OWL (Yin et al. 2023, luuyin/OWL lib/prune_all.py check_outlier_mean): the percentage (0..100) of a
 * block's scores above m × their mean, the mean taken over all of the block's Linears together.
 */
export function outlierRatio(scores: readonly (Tensor | Float32Array)[], m: number): number {
  const arrays = scores.map((s) => (s instanceof Float32Array ? s : asFloat(s).floatData()));
  let total = 0;
  let sum = 0;
  for (const a of arrays) {
    total += a.length;
    for (let i = 0; i < a.length; i++) sum += a[i];
  }
  if (total === 0) throw new PruneError('outlierRatio: no scores');
  const threshold = (sum / total) * m;
  let outliers = 0;
  for (const a of arrays) for (let i = 0; i < a.length; i++) if (a[i] > threshold) outliers++;
  return (outliers / total) * 100;
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
