import { allocate, kernelsFor } from '../../backends/kernels.js';
import { noGrad } from '../../engine/autograd.js';
import { ones } from '../../engine/create.js';
import { Tensor } from '../../engine/tensor.js';
import { maskInPlace_ } from '../../ops/assign.js';
import { ne } from '../../ops/elementwise.js';
import { countZeros, max } from '../../ops/reduce.js';
import { reshape } from '../../ops/views.js';
import { checkNm, checkSparsity, PruneError } from './errors.js';
import { readWeight } from './scores.js';

/**
 * Pruning masks over scores [out, in]: bool tensors of the same shape, true = keep, false = prune (what Linear.setMask
 * takes). Ties: among equal scores the lower index is pruned first (a stable ascending sort, as Wanda's
 * torch.sort(stable=True); for N:M the lower position within the group, where the reference repos'
 * torch.topk leaves the order of ties unspecified).
 */

export interface UnstructuredMaskOptions {
  /**
   * 'row' (default, Wanda): prune the ⌊in·s⌋ lowest of every output row.
   * 'layer' (the papers' magnitude baseline): prune the ⌊out·in·s⌋ lowest of the whole matrix.
   * The reference repos' magnitude code prunes `|W| <= sorted[⌊numel·s⌋]`, one more entry (plus ties);
   * lithe prunes exactly ⌊numel·s⌋.
   */
  group?: 'row' | 'layer';
}

/** Keep everything but the `count` lowest of each of `groups` runs of scores (a stable ascending order): bool. */
function maskLowest(scores: Tensor, groups: number, count: number): Tensor {
  const keep = allocate('bool', scores.size);
  kernelsFor(scores.dtype).maskLowest(scores.denseStorage(), groups, scores.size / groups, count, keep);
  return new Tensor(keep, scores.shape, 'bool');
}

/**
 * Keep everything but the `count` lowest of the whole matrix: all below the count-th smallest, then its ties by
 * lowest index. A NaN count-th smallest (fewer than `count` numbers) prunes nothing: no score is below it.
 */
function pruneLowestOverall(scores: Tensor, count: number): Tensor {
  if (count > 0 && Number.isNaN(max(scores).item()) && count > countZeros(ne(scores, scores)))
    return ones(scores.shape, { dtype: 'bool' });
  return maskLowest(scores, 1, count);
}

/** Unstructured mask at the given sparsity, per output row or over the whole layer: bool [out, in]. */
export function unstructuredMask(scores: Tensor, sparsity: number, options: UnstructuredMaskOptions = {}): Tensor {
  checkSparsity(sparsity, 'unstructuredMask');
  const { values, rows, cols } = readWeight(scores, 'unstructuredMask');
  const group = options.group ?? 'row';
  if (group === 'row') return noGrad(() => maskLowest(values, rows, Math.floor(cols * sparsity)));
  if (group === 'layer') return noGrad(() => pruneLowestOverall(values, Math.floor(rows * cols * sparsity)));
  throw new PruneError(`unstructuredMask: unknown group '${group}'`);
}

/** N:M mask: in every run of m consecutive input columns of a row, prune the n lowest scores: bool [out, in]. */
export function nmMask(scores: Tensor, n: number, m: number): Tensor {
  const { values, rows, cols } = readWeight(scores, 'nmMask');
  checkNm(n, m, cols, 'nmMask');
  // Each row's runs of m columns are contiguous: the rows·cols/m groups of the flat matrix.
  return noGrad(() => maskLowest(values, (rows * cols) / m, n));
}

/** Zero the pruned weights of w (contiguous, any dtype: zero is all-zero bits in each) in place; mask: bool. */
export function applyMask(w: Tensor, mask: Tensor): void {
  if (!w.isContiguous()) throw new PruneError('applyMask: the weight must be contiguous to be pruned in place');
  if (mask.size !== w.size) throw new PruneError(`applyMask: mask of ${mask.size} for ${w.size} weights`);
  maskInPlace_(w, reshape(mask, w.shape));
}

/** The fraction of false entries in a mask (pruned / total). */
export function maskSparsity(mask: Tensor): number {
  return mask.size === 0 ? 0 : countZeros(mask) / mask.size;
}
