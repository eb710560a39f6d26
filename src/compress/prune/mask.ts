import { hostKernelsFor } from '../../backends/registry.js';
import { type FloatArray, floatArrayDType } from '../../engine/dtype.js';
import type { Tensor } from '../../engine/tensor.js';
import { checkNm, checkSparsity, PruneError } from './errors.js';
import { readWeight } from './scores.js';

/**
 * Pruning masks over scores [out, in]: Uint8Array of out·in entries, 1 = keep, 0 = prune.
 * Ties: among equal scores the lower index is pruned first (a stable ascending sort, as Wanda's
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

/** Keep everything but the `count` lowest of each of `groups` runs of `len` scores (a stable argsort per run). */
function pruneLowest(data: FloatArray, groups: number, len: number, count: number): Uint8Array {
  const keep = new Uint8Array(groups * len).fill(1);
  if (count === 0) return keep;
  const order = new Int32Array(groups * len);
  hostKernelsFor(floatArrayDType(data)).sort(data, groups, len, 1, false, order);
  for (let g = 0; g < groups; g++) {
    const base = g * len;
    for (let k = 0; k < count; k++) keep[base + order[base + k]] = 0;
  }
  return keep;
}

/** The k-th smallest (0-based) of values, which are left untouched. */
export function kthSmallest(values: FloatArray, k: number): number {
  return values.slice().sort()[k];
}

/** Keep everything but the `count` lowest of the whole array: a threshold, then ties by lowest index. */
function pruneLowestOverall(data: FloatArray, count: number): Uint8Array {
  const keep = new Uint8Array(data.length).fill(1);
  if (count === 0) return keep;
  // Cheaper than an argsort of the whole layer: prune all below the count-th smallest, then its ties in order.
  const threshold = kthSmallest(data, count - 1);
  let pruned = 0;
  for (let i = 0; i < data.length; i++) {
    if (data[i] < threshold) {
      keep[i] = 0;
      pruned++;
    }
  }
  for (let i = 0; i < data.length && pruned < count; i++) {
    if (data[i] === threshold) {
      keep[i] = 0;
      pruned++;
    }
  }
  return keep;
}

/** Unstructured mask at the given sparsity, per output row or over the whole layer. */
export function unstructuredMask(scores: Tensor, sparsity: number, options: UnstructuredMaskOptions = {}): Uint8Array {
  checkSparsity(sparsity, 'unstructuredMask');
  const { data, rows, cols } = readWeight(scores, 'unstructuredMask');
  const group = options.group ?? 'row';
  if (group === 'row') return pruneLowest(data, rows, cols, Math.floor(cols * sparsity));
  if (group === 'layer') return pruneLowestOverall(data, Math.floor(rows * cols * sparsity));
  throw new PruneError(`unstructuredMask: unknown group '${group}'`);
}

/** N:M mask: in every run of m consecutive input columns of a row, prune the n lowest scores. */
export function nmMask(scores: Tensor, n: number, m: number): Uint8Array {
  const { data, rows, cols } = readWeight(scores, 'nmMask');
  checkNm(n, m, cols, 'nmMask');
  const groups = (rows * cols) / m;
  const lowest = new Int32Array(groups * n);
  hostKernelsFor(floatArrayDType(data)).topk(data, groups, m, 1, n, false, false, lowest);
  const keep = new Uint8Array(rows * cols).fill(1);
  for (let g = 0; g < groups; g++) for (let k = 0; k < n; k++) keep[g * m + lowest[g * n + k]] = 0;
  return keep;
}

/** Zero the pruned weights of w (contiguous, any dtype: zero is all-zero bits in each) in place. */
export function applyMask(w: Tensor, mask: Uint8Array): void {
  if (!w.isContiguous()) throw new PruneError('applyMask: the weight must be contiguous to be pruned in place');
  if (mask.length !== w.size) throw new PruneError(`applyMask: mask of ${mask.length} for ${w.size} weights`);
  const data = w.dataSync(); // contiguous: a view of w's host storage
  for (let i = 0; i < mask.length; i++) if (mask[i] === 0) data[i] = 0;
}

/** The fraction of zeros in a mask (pruned / total). */
export function maskSparsity(mask: Uint8Array): number {
  let pruned = 0;
  for (let i = 0; i < mask.length; i++) pruned += 1 - mask[i];
  return mask.length === 0 ? 0 : pruned / mask.length;
}
