import type { Tensor } from '../engine/tensor.js';
import { f32Storage, OptimizerError } from './optim/optimizer.js';

const fr = Math.fround;

export interface ClipOptions {
  /** Throw an OptimizerError instead of scaling when the norm is NaN or infinite (default false, as torch). */
  errorIfNonfinite?: boolean;
}

/** Lanes of torch's vectorised CPU sum of squares; summing the same way reproduces its f32 norms exactly. */
const LANES = 8;

/**
 * The L2 norm of an f32 vector as torch's CPU kernel computes it: squares accumulated in f32
 * across 8 lanes, then the lanes and the leftover elements added in order.
 */
function vectorNorm(x: Float32Array): number {
  const lanes = new Float32Array(LANES);
  const bulk = x.length - (x.length % LANES);
  for (let i = 0; i < bulk; i += LANES) {
    for (let l = 0; l < LANES; l++) lanes[l] += fr(x[i + l] * x[i + l]);
  }
  let sum = 0;
  for (let l = 0; l < LANES; l++) sum = fr(sum + lanes[l]);
  for (let i = bulk; i < x.length; i++) sum = fr(sum + fr(x[i] * x[i]));
  return fr(Math.sqrt(sum));
}

/**
 * torch.nn.utils.clip_grad_norm_: the L2 norm of the per-gradient L2 norms; when it exceeds maxNorm,
 * every gradient is scaled in place by maxNorm / (total + 1e-6). Parameters without a gradient are
 * skipped. Returns the total norm (before clipping).
 */
export function clipGradNorm(params: Iterable<Tensor>, maxNorm: number, options: ClipOptions = {}): number {
  const grads: Float32Array[] = [];
  for (const p of params) if (p.grad) grads.push(f32Storage(p.grad, 'a clipped gradient'));
  if (grads.length === 0) return 0;
  const total = vectorNorm(Float32Array.from(grads, vectorNorm));
  if (!Number.isFinite(total) && options.errorIfNonfinite) {
    throw new OptimizerError(`the total gradient norm is ${total}`);
  }
  // torch: maxNorm / (total + 1e-6) as f32 tensor ops, where scalar / tensor is reciprocal then multiply.
  const coef = Math.min(fr(fr(1 / fr(total + fr(1e-6))) * fr(maxNorm)), 1);
  if (coef < 1 || Number.isNaN(coef)) for (const g of grads) for (let i = 0; i < g.length; i++) g[i] *= coef;
  return total;
}
