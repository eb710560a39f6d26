import { allocate, allocateZeroed, kernelsFor, type StorageHandle } from '../backends/kernels.js';
import { record } from '../engine/autograd.js';
import { ShapeError } from '../engine/errors.js';
import { numel } from '../engine/shape.js';
import { asFloat, resultDType, Tensor } from '../engine/tensor.js';

export interface RmsNormOptions {
  /** Added to mean(x²) before the square root. */
  eps?: number;
}

export interface LayerNormOptions {
  /** Added to the variance before the square root. */
  eps?: number;
}

/** Check that an affine parameter is a vector matching x's last axis. */
function checkParam(name: string, p: Tensor, x: Tensor): void {
  const dim = x.shape[x.rank - 1];
  if (p.rank !== 1 || p.shape[0] !== dim) {
    throw new ShapeError(`${name} must have shape [${dim}] to match input [${x.shape}], got [${p.shape}]`);
  }
}

/** A gradient summed over rows in f64, handed back in the parameter's own dtype. */
function paramGrad(sums: StorageHandle, p: Tensor): Tensor {
  return new Tensor(sums, p.shape, 'f64').to(p.dtype);
}

/**
 * RMSNorm over the last axis, exactly as HF LlamaRMSNorm: weight · (x · rsqrt(mean(x², -1) + eps)).
 * x: [..., D], weight: [D]; f32 input is normalised in f32 before the weight multiplies it.
 */
export function rmsNorm(input: Tensor, weightInput: Tensor, options: RmsNormOptions = {}): Tensor {
  const x = asFloat(input);
  const weight = asFloat(weightInput);
  if (x.rank === 0) throw new ShapeError('rmsNorm needs at least one axis');
  checkParam('rmsNorm weight', weight, x);
  const eps = options.eps ?? 1e-6;
  const dim = x.shape[x.rank - 1];
  const rows = numel(x.shape.slice(0, -1));
  const dtype = resultDType(x, weight);
  const xs = x.denseStorage();
  const ws = weight.denseStorage();
  const out = allocate(dtype, x.size);
  const rstd = allocateZeroed('f64', rows);
  kernelsFor(dtype).rmsNormForward(xs, ws, out, rstd, rows, dim, eps);
  return record(new Tensor(out, x.shape, dtype), 'rmsNorm', [x, weight], (g) => {
    const dx = x.requiresGrad ? allocate(x.dtype, x.size) : null;
    const dw = weight.requiresGrad ? allocateZeroed('f64', dim) : null;
    kernelsFor(dtype).rmsNormBackward(xs, ws, rstd, g.denseStorage(), dx, dw, rows, dim);
    return [dx && new Tensor(dx, x.shape, x.dtype), dw && paramGrad(dw, weight)];
  });
}

/**
 * LayerNorm over the last axis as torch.nn.functional.layer_norm (biased variance).
 * x: [..., D]; weight and bias: [D], each optional.
 */
export function layerNorm(
  input: Tensor,
  weightInput?: Tensor | null,
  biasInput?: Tensor | null,
  options: LayerNormOptions = {},
): Tensor {
  const x = asFloat(input);
  const weight = weightInput ? asFloat(weightInput) : null;
  const bias = biasInput ? asFloat(biasInput) : null;
  if (x.rank === 0) throw new ShapeError('layerNorm needs at least one axis');
  if (weight) checkParam('layerNorm weight', weight, x);
  if (bias) checkParam('layerNorm bias', bias, x);
  const eps = options.eps ?? 1e-5;
  const dim = x.shape[x.rank - 1];
  const rows = numel(x.shape.slice(0, -1));
  const params = [weight, bias].filter((p): p is Tensor => p !== null);
  const dtype = resultDType(x, ...params);
  const xs = x.denseStorage();
  const ws = weight ? weight.denseStorage() : null;
  const out = allocateZeroed(dtype, x.size);
  const mean = allocateZeroed('f64', rows);
  const rstd = allocateZeroed('f64', rows);
  kernelsFor(dtype).layerNormForward(xs, ws, bias ? bias.denseStorage() : null, out, mean, rstd, rows, dim, eps);
  return record(new Tensor(out, x.shape, dtype), 'layerNorm', [x, ...params], (g) => {
    const dx = x.requiresGrad ? allocateZeroed(x.dtype, x.size) : null;
    const dw = weight?.requiresGrad ? allocateZeroed('f64', dim) : null;
    const db = bias?.requiresGrad ? allocateZeroed('f64', dim) : null;
    kernelsFor(dtype).layerNormBackward(xs, ws, mean, rstd, g.denseStorage(), dx, dw, db, rows, dim);
    const grads: (Tensor | null)[] = [dx && new Tensor(dx, x.shape, x.dtype)];
    if (weight) grads.push(dw && paramGrad(dw, weight));
    if (bias) grads.push(db && paramGrad(db, bias));
    return grads;
  });
}
