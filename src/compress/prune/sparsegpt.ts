import { hostKernelsFor } from '../../backends/registry.js';
import { fromFloat } from '../../engine/tensor.js';
import { choleskyOfInverse } from '../../linalg/index.js';
import { checkNm, checkSparsity, PruneError } from './errors.js';
import { kthSmallest } from './mask.js';

export interface SparseGptOptions {
  /** Fraction pruned per column block (unstructured); ignored when nm is given. */
  sparsity: number;
  /** N:M pattern [n, m]: prune n of every m consecutive columns per row instead of unstructured. */
  nm?: [number, number];
  /** Columns per lazy-update block; default 128 (a multiple of m for N:M). */
  blockSize?: number;
  /** Dampening, as a fraction of mean(diag H) added to the diagonal; default 0.01. */
  percdamp?: number;
}

export interface SparseGptResult {
  /** 1 = kept, 0 = pruned: [rows, cols]. */
  mask: Uint8Array;
}

/** Hinv: the upper Cholesky factor of (H with dead columns fixed and dampened)⁻¹, as f32 for the GEMM. */
function inverseFactor(h: Float64Array, cols: number, percdamp: number, dead: Uint8Array): Float32Array {
  const damped = Float64Array.from(h);
  let diagSum = 0;
  for (let j = 0; j < cols; j++) {
    // A column no calibration token touched carries no information: its weights go, H_jj = 1 keeps H invertible.
    if (damped[j * cols + j] === 0) {
      dead[j] = 1;
      damped[j * cols + j] = 1;
    }
    diagSum += damped[j * cols + j];
  }
  const damp = (percdamp * diagSum) / cols;
  for (let j = 0; j < cols; j++) damped[j * cols + j] += damp;
  return choleskyOfInverse(fromFloat(damped, [cols, cols]), { dtype: 'f32' }).floatData() as Float32Array;
}

/** Mark as pruned (0) the entries of block [rows, count] whose w²/d² is at most the ⌊numel·s⌋-th smallest. */
function blockThresholdMask(
  w1: Float32Array,
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
  w1: Float32Array,
  d: Float64Array,
  keep: Uint8Array,
  rows: number,
  count: number,
  i: number,
  nm: [number, number],
): void {
  const [n, m] = nm;
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
 * SparseGPT (Frantar & Alistarh 2023) on w: [rows, cols] (f32, updated in place) with the Hessian
 * h = (2/n) Σ x xᵀ: [cols, cols] (f64, not modified). Follows IST-DASLab/sparsegpt's fasterprune:
 * dead columns, dampening, Hinv = upper Cholesky factor of H⁻¹, then column blocks left to right,
 * each choosing its mask from w²/Hinv_jj², making the OBS update column by column and propagating the
 * block's error to the later columns with one GEMM.
 * Precision: Hinv is computed in f64 and rounded to f32; the weights and errors stay in f32, as the reference.
 * The unstructured mask follows the reference's threshold rule, so each block prunes ⌊rows·block·s⌋ + 1
 * entries (more on ties), slightly above s; sparsity 0 prunes nothing.
 */
export function sparsegptPrune(w: Float32Array, h: Float64Array, options: SparseGptOptions): SparseGptResult {
  const cols = Math.round(Math.sqrt(h.length));
  if (cols * cols !== h.length || cols === 0)
    throw new PruneError(`sparsegptPrune: H of ${h.length} values is not square`);
  if (w.length % cols !== 0) throw new PruneError(`sparsegptPrune: W of ${w.length} values is not rows of ${cols}`);
  const rows = w.length / cols;
  const { sparsity, nm } = options;
  const blockSize = options.blockSize ?? 128;
  const percdamp = options.percdamp ?? 0.01;
  if (!Number.isInteger(blockSize) || blockSize <= 0)
    throw new PruneError(`sparsegptPrune: bad blockSize ${blockSize}`);
  if (nm) {
    checkNm(nm[0], nm[1], cols, 'sparsegptPrune');
    if (blockSize % nm[1] !== 0)
      throw new PruneError(`sparsegptPrune: blockSize ${blockSize} is not a multiple of M = ${nm[1]}`);
  } else checkSparsity(sparsity, 'sparsegptPrune');

  const dead = new Uint8Array(cols);
  const hinv = inverseFactor(h, cols, percdamp, dead); // [cols, cols], upper triangular
  for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) if (dead[j]) w[r * cols + j] = 0;

  const mask = new Uint8Array(rows * cols);
  for (let i1 = 0; i1 < cols; i1 += blockSize) {
    const i2 = Math.min(i1 + blockSize, cols);
    const count = i2 - i1;
    const w1 = new Float32Array(rows * count); // this block's columns, updated as columns are pruned
    const err1 = new Float32Array(rows * count);
    for (let r = 0; r < rows; r++) w1.set(w.subarray(r * cols + i1, r * cols + i2), r * count);
    const d = new Float64Array(count);
    for (let j = 0; j < count; j++) d[j] = hinv[(i1 + j) * cols + i1 + j];
    const keep = nm ? new Uint8Array(rows * count) : blockThresholdMask(w1, d, rows, count, sparsity);

    for (let i = 0; i < count; i++) {
      if (nm && i % nm[1] === 0) groupNmMask(w1, d, keep, rows, count, i, nm);
      const hRow = (i1 + i) * cols + i1; // Hinv[i1 + i, i1 + j] = hinv[hRow + j]
      for (let r = 0; r < rows; r++) {
        const at = r * count + i;
        if (keep[at]) continue;
        // q = 0 here, so err = w / d; the block's remaining columns absorb it: W1[r, i:] -= err · Hinv1[i, i:].
        const err = w1[at] / d[i];
        err1[at] = err;
        for (let j = i; j < count; j++) w1[r * count + j] -= err * hinv[hRow + j];
        w1[at] = 0;
      }
    }

    for (let r = 0; r < rows; r++) {
      w.set(w1.subarray(r * count, (r + 1) * count), r * cols + i1);
      mask.set(keep.subarray(r * count, (r + 1) * count), r * cols + i1);
    }
    // Lazy batch update of the later columns: W[:, i2:] -= Err1 · Hinv[i1:i2, i2:].
    if (i2 < cols) {
      hostKernelsFor('f32').gemm({
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
  return { mask };
}
