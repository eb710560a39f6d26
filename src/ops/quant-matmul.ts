import { allocate, kernelsFor } from '../backends/kernels.js';
import { record } from '../engine/autograd.js';
import { ShapeError } from '../engine/errors.js';
import type { QuantizedTensor } from '../engine/quant/quantized-tensor.js';
import { asFloat, Tensor } from '../engine/tensor.js';
import { add } from './elementwise.js';

/**
 * a · q for a quantised 2-D q (logical shape [K, N]; a transposed view q.t() gives a · Wᵀ): a [..., K] -> [..., N].
 * Batch axes of a fold into rows. The gradient flows to a only (dA = dY · qᵀ, itself a quantised GEMM); the codes
 * are storage, not parameters, so none flows to q.
 */
export function quantMatmul(a: Tensor, q: QuantizedTensor): Tensor {
  const x = asFloat(a);
  if (x.rank === 0) throw new ShapeError('matmul does not take scalars; use mul');
  const [inner, outer] = q.shape;
  if (x.shape[x.rank - 1] !== inner) {
    throw new ShapeError(`matmul: [${x.shape}] @ ${q.format} [${q.shape}] inner sizes differ`);
  }
  const lead = x.shape.slice(0, -1);
  const m = inner === 0 ? lead.reduce((p, d) => p * d, 1) : x.size / inner;
  const y = allocate(x.dtype, m * outer);
  // x · Wᵀ when q is the transposed view of W [out, in], else x · W.
  kernelsFor(x.dtype).quantGemm({ transW: q.transposed, m, x: x.denseStorage(), w: q, y });
  const out = new Tensor(y, [...lead, outer], x.dtype);
  return record(out, 'quantMatmul', [x], (g) => [quantMatmul(g, q.t())]);
}

/** y = x · Wᵀ + b for a quantised W [out, in]; x: [..., in] -> [..., out]. */
export function quantLinear(x: Tensor, weight: QuantizedTensor, bias?: Tensor | null): Tensor {
  if (weight.transposed)
    throw new ShapeError(`linear weight must be [out, in], got a transposed ${weight.format} view`);
  if (x.shape[x.rank - 1] !== weight.cols) {
    throw new ShapeError(`linear: input [${x.shape}] does not end in ${weight.cols} features`);
  }
  const y = quantMatmul(x, weight.t());
  return bias ? add(y, bias) : y;
}
