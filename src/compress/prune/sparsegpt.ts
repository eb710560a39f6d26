import { allocate, kernelsFor, stridedOperand } from '../../backends/kernels.js';
import { noGrad } from '../../engine/autograd.js';
import { asFloat, Tensor } from '../../engine/tensor.js';
import { choleskyOfInverse } from '../../linalg/index.js';
import { add, eq, where } from '../../ops/elementwise.js';
import { sum } from '../../ops/reduce.js';
import { reshape } from '../../ops/views.js';
import { checkNm, checkSparsity, PruneError } from './errors.js';

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
  /** The updated weights: [rows, cols], f32, zero where pruned. */
  weight: Tensor;
  /** true = kept, false = pruned: [rows, cols], bool. */
  mask: Tensor;
}

/**
 * Hinv: the upper Cholesky factor of (H with dead columns fixed and dampened)⁻¹, as f32 for the GEMM, and the dead
 * columns (bool [cols]): those no calibration token touched (H_jj = 0) carry no information, so their weights go,
 * and H_jj = 1 keeps H invertible.
 */
function inverseFactor(h: Tensor, cols: number, percdamp: number): { hinv: Tensor; dead: Tensor } {
  const damped = h.to('f64').clone();
  const diagonal = new Tensor(damped.storage, [cols], 'f64', [cols + 1], damped.offset);
  const dead = eq(diagonal, 0);
  const fixed = where(dead, 1, diagonal);
  const damp = (percdamp * sum(fixed).item()) / cols;
  kernelsFor('f64').writeStrided(stridedOperand(diagonal), diagonal.shape, add(fixed, damp).denseStorage());
  return { hinv: choleskyOfInverse(damped, { dtype: 'f32' }), dead };
}

/**
 * SparseGPT (Frantar & Alistarh 2023) on w: [rows, cols] (not modified; pruned as f32) with the Hessian
 * h = (2/n) Σ x xᵀ: [cols, cols] (f64, not modified). Follows IST-DASLab/sparsegpt's fasterprune:
 * dead columns, dampening, Hinv = upper Cholesky factor of H⁻¹, then column blocks left to right,
 * each choosing its mask from w²/Hinv_jj², making the OBS update column by column and propagating the
 * block's error to the later columns with one GEMM (the obsPrune kernel).
 * Precision: Hinv is computed in f64 and rounded to f32; the weights and errors stay in f32, as the reference.
 * The unstructured mask follows the reference's threshold rule, so each block prunes ⌊rows·block·s⌋ + 1
 * entries (more on ties), slightly above s; sparsity 0 prunes nothing.
 */
export function sparsegptPrune(w: Tensor, h: Tensor, options: SparseGptOptions): SparseGptResult {
  const cols = h.shape[0];
  if (h.rank !== 2 || h.shape[1] !== cols || cols === 0)
    throw new PruneError(`sparsegptPrune: H of shape [${h.shape}] is not a square matrix`);
  if (w.rank !== 2 || w.shape[1] !== cols)
    throw new PruneError(`sparsegptPrune: W of shape [${w.shape}] does not have ${cols} columns`);
  const rows = w.shape[0];
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

  return noGrad(() => {
    const { hinv, dead } = inverseFactor(h, cols, percdamp); // [cols, cols], upper triangular
    // A fresh f32 copy of w (the kernel updates it in place), dead columns zeroed.
    const weight = where(reshape(dead, [1, cols]), 0, asFloat(w)).to('f32');
    const keep = allocate('bool', rows * cols);
    const args = {
      w: weight.denseStorage(),
      hinv: hinv.denseStorage(),
      rows,
      cols,
      blockSize,
      sparsity,
      nm: nm ?? null,
    };
    kernelsFor('f32').obsPrune(args, keep);
    return { weight, mask: new Tensor(keep, [rows, cols], 'bool') };
  });
}
