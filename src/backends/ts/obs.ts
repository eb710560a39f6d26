import type { FloatArray } from '../../engine/dtype.js';
import type { GemmKernel } from './gemm.js';

/** Optimal Brain Surgeon pruning of a weight matrix, block by block (SparseGPT's column loop). */
export interface ObsPruneArgs {
  /** W: [rows, cols], row-major; updated in place (pruned entries become 0, kept ones absorb the error). */
  w: FloatArray;
  /** The upper Cholesky factor of the (dampened) inverse Hessian: [cols, cols], in w's dtype. */
  hinv: FloatArray;
  rows: number;
  cols: number;
  /** Columns per lazy-update block (a multiple of m for N:M). */
  blockSize: number;
  /** Fraction pruned per block (unstructured); unused with nm. */
  sparsity: number;
  /** [n, m]: prune n of every m consecutive columns per row; null for unstructured. */
  nm: readonly [number, number] | null;
}

/** The k-th smallest (0-based) of values, which are left untouched. */
function kthSmallest(values: Float64Array, k: number): number {
  return values.slice().sort()[k];
}

/** Mark as pruned (0) the entries of block [rows, count] whose w²/d² is at most the ⌊numel·s⌋-th smallest. */
function blockThresholdMask(
  w1: FloatArray,
  d: Float64Array,
  rows: number,
  count: number,
  sparsity: number,
): Uint8Array {
  const keep = new Uint8Array(rows * count).fill(1);
  if (sparsity === 0) return keep; // the reference's rule would still prune each block's minimum
  const loss = new Float64Array(rows * count);
  for (let r = 0; r < rows; r++)
    for (let j = 0; j < count; j++) loss[r * count + j] = w1[r * count + j] ** 2 / d[j] ** 2;
  // As the reference: thresh = sort(loss)[⌊numel·s⌋], prune loss <= thresh (⌊numel·s⌋ + 1 entries, plus ties).
  const thresh = kthSmallest(loss, Math.floor(loss.length * sparsity));
  for (let i = 0; i < loss.length; i++) if (loss[i] <= thresh) keep[i] = 0;
  return keep;
}

/** N:M within block columns [i, i+m): per row, prune the n smallest w²/d² of the current (updated) weights. */
function groupNmMask(
  w1: FloatArray,
  d: Float64Array,
  keep: Uint8Array,
  rows: number,
  count: number,
  i: number,
  [n, m]: readonly [number, number],
): void {
  const loss = new Float64Array(m);
  const order = new Int32Array(m);
  for (let r = 0; r < rows; r++) {
    const base = r * count + i;
    for (let g = 0; g < m; g++) {
      loss[g] = w1[base + g] ** 2 / d[i + g] ** 2;
      order[g] = g;
    }
    // Stable: among equal losses the lower column goes first.
    order.sort((a, b) => loss[a] - loss[b] || a - b);
    for (let g = 0; g < m; g++) keep[base + g] = 1;
    for (let k = 0; k < n; k++) keep[base + order[k]] = 0;
  }
}

/**
 * SparseGPT's pruning loop (IST-DASLab/sparsegpt fasterprune, after the Hessian's preparation): column blocks left to
 * right, each choosing its mask from w²/Hinv_jj² (unstructured: the reference's threshold rule per block; N:M: per
 * group of m columns, on the updated weights), making the OBS update column by column within the block, then
 * propagating the block's error to the later columns with one GEMM: W[:, i2:] -= Err1 · Hinv[i1:i2, i2:].
 * keep: [rows, cols], written with 1 = kept, 0 = pruned. `gemm` is the chain's GEMM for w's dtype.
 */
export function obsPruneTs(args: ObsPruneArgs, keep: Uint8Array, gemm: GemmKernel): void {
  const { w, hinv, rows, cols, blockSize, sparsity, nm } = args;
  const alloc = (n: number) => new (w.constructor as new (n: number) => FloatArray)(n);
  for (let i1 = 0; i1 < cols; i1 += blockSize) {
    const i2 = Math.min(i1 + blockSize, cols);
    const count = i2 - i1;
    const w1 = alloc(rows * count); // this block's columns, updated as columns are pruned
    const err1 = alloc(rows * count);
    for (let r = 0; r < rows; r++) w1.set(w.subarray(r * cols + i1, r * cols + i2), r * count);
    const d = new Float64Array(count);
    for (let j = 0; j < count; j++) d[j] = hinv[(i1 + j) * cols + i1 + j];
    const blockKeep = nm ? new Uint8Array(rows * count) : blockThresholdMask(w1, d, rows, count, sparsity);

    for (let i = 0; i < count; i++) {
      if (nm && i % nm[1] === 0) groupNmMask(w1, d, blockKeep, rows, count, i, nm);
      const hRow = (i1 + i) * cols + i1; // Hinv[i1 + i, i1 + j] = hinv[hRow + j]
      for (let r = 0; r < rows; r++) {
        const at = r * count + i;
        if (blockKeep[at]) continue;
        // q = 0 here, so err = w / d; the block's remaining columns absorb it: W1[r, i:] -= err · Hinv1[i, i:].
        const err = w1[at] / d[i];
        err1[at] = err;
        for (let j = i; j < count; j++) w1[r * count + j] -= err * hinv[hRow + j];
        w1[at] = 0;
      }
    }

    for (let r = 0; r < rows; r++) {
      w.set(w1.subarray(r * count, (r + 1) * count), r * cols + i1);
      keep.set(blockKeep.subarray(r * count, (r + 1) * count), r * cols + i1);
    }
    if (i2 < cols) {
      gemm({
        transA: false,
        transB: false,
        m: rows,
        n: cols - i2,
        k: count,
        alpha: -1,
        beta: 1,
        a: err1,
        aOffset: 0,
        lda: count,
        strideA: 0,
        b: hinv,
        bOffset: i1 * cols + i2,
        ldb: cols,
        strideB: 0,
        c: w,
        cOffset: i2,
        ldc: cols,
        strideC: 0,
        batch: 1,
      });
    }
  }
}
