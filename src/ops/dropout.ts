import { noGrad, record } from '../engine/autograd.js';
import { ShapeError } from '../engine/errors.js';
import { globalRng, type Rng } from '../engine/rng.js';
import { asFloat, Tensor } from '../engine/tensor.js';
import { mul } from './elementwise.js';

export interface DropoutOptions {
  /** Probability of zeroing each element, in [0, 1). */
  p?: number;
  /** Identity when false (evaluation). */
  training?: boolean;
  /** Source of the mask; the global generator when omitted. */
  rng?: Rng;
}

/**
 * Inverted dropout: zero each element with probability p and scale the rest by 1/(1-p), so the
 * expected value is unchanged and evaluation needs no rescaling. The gradient reuses the mask.
 */
export function dropout(x: Tensor, options: DropoutOptions = {}): Tensor {
  const { p = 0.5, training = true, rng = globalRng } = options;
  if (!(p >= 0 && p < 1)) throw new ShapeError(`dropout probability must be in [0, 1), got ${p}`);
  const xf = asFloat(x);
  if (!training || p === 0) return xf;
  const Ctor = xf.dtype === 'f64' ? Float64Array : Float32Array;
  // mask: x's shape, holding 0 or 1/(1-p), drawn on the host from the seeded generator
  const mask = new Ctor(xf.size);
  const scale = 1 / (1 - p);
  for (let i = 0; i < mask.length; i++) if (rng.uniform() >= p) mask[i] = scale;
  const maskTensor = new Tensor(mask, xf.shape, xf.dtype);
  // Dropped elements are multiplied too, so that NaN and Inf propagate as in PyTorch.
  const out = noGrad(() => mul(xf, maskTensor));
  return record(out, 'dropout', [xf], (g) => [mul(g, maskTensor)]);
}
