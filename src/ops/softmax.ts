import { allocate, kernelsFor } from '../backends/kernels.js';
import { record } from '../engine/autograd.js';
import { normAxis, numel } from '../engine/shape.js';
import { asFloat, Tensor } from '../engine/tensor.js';

export interface SoftmaxOptions {
  /** The axis that sums to one (negative counts from the end). */
  axis?: number;
}

/** A fused, max-shifted softmax or log-softmax whose gradient comes from its own output. */
function softmaxOp(input: Tensor, axis: number, log: boolean): Tensor {
  const x = asFloat(input);
  const a = normAxis(axis, x.rank);
  // The data viewed as [outer, len, inner] around the softmax axis.
  const outer = numel(x.shape.slice(0, a));
  const len = x.shape[a];
  const inner = numel(x.shape.slice(a + 1));
  const y = allocate(x.dtype, x.size);
  kernelsFor(x.dtype).softmax(x.denseStorage(), y, outer, len, inner, log);
  const out = new Tensor(y, x.shape, x.dtype);
  return record(out, log ? 'logSoftmax' : 'softmax', [x], (g) => {
    const dx = allocate(x.dtype, x.size);
    kernelsFor(x.dtype).softmaxBackward(y, g.denseStorage(), dx, outer, len, inner, log);
    return [new Tensor(dx, x.shape, x.dtype)];
  });
}

/** exp(x) / Σ exp(x) along an axis, stable for any finite logits. */
export function softmax(x: Tensor, options: SoftmaxOptions = {}): Tensor {
  return softmaxOp(x, options.axis ?? -1, false);
}

/** x − logsumexp(x) along an axis, without forming the softmax first. */
export function logSoftmax(x: Tensor, options: SoftmaxOptions = {}): Tensor {
  return softmaxOp(x, options.axis ?? -1, true);
}
