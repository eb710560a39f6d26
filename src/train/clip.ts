import { allocate, kernelsFor } from '../backends/kernels.js';
import { Tensor } from '../engine/tensor.js';
import { f32Storage, OptimizerError, updateInPlace } from './optim/optimizer.js';

const fr = Math.fround;

export interface ClipOptions {
  /** Throw an OptimizerError instead of scaling when the norm is NaN or infinite (default false, as torch). */
  errorIfNonfinite?: boolean;
}

/**
 * torch.nn.utils.clip_grad_norm_: the L2 norm of the per-gradient L2 norms (each summed as torch's CPU kernel does, see
 * the vectorNorm kernel); when it exceeds maxNorm, every gradient is scaled in place by maxNorm / (total + 1e-6).
 * Parameters without a gradient are skipped. Returns the total norm (before clipping).
 */
export function clipGradNorm(params: Iterable<Tensor>, maxNorm: number, options: ClipOptions = {}): number {
  const grads: Tensor[] = [];
  for (const p of params) {
    if (!p.grad) continue;
    f32Storage(p.grad, 'a clipped gradient');
    grads.push(p.grad);
  }
  if (grads.length === 0) return 0;
  const kernels = kernelsFor('f32');
  const norms = allocate('f32', grads.length);
  grads.forEach((g, i) => {
    kernels.vectorNorm(g.denseStorage(), norms, i);
  });
  const totalNorm = allocate('f32', 1);
  kernels.vectorNorm(norms, totalNorm, 0);
  const total = new Tensor(totalNorm, [], 'f32').item();
  if (!Number.isFinite(total) && options.errorIfNonfinite) {
    throw new OptimizerError(`the total gradient norm is ${total}`);
  }
  // torch: maxNorm / (total + 1e-6) as f32 tensor ops, where scalar / tensor is reciprocal then multiply.
  const coef = Math.min(fr(fr(1 / fr(total + fr(1e-6))) * fr(maxNorm)), 1);
  if (coef < 1 || Number.isNaN(coef)) for (const g of grads) updateInPlace(g, 'mul', coef);
  return total;
}
