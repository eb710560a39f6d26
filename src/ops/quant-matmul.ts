import { allocate, kernelsFor } from '../backends/kernels.js';
import { record } from '../engine/autograd.js';
import { ShapeError } from '../engine/errors.js';
import type { QuantizedTensor } from '../engine/quant/quantized-tensor.js';
import { asFloat, Tensor } from '../engine/tensor.js';
import { add } from './elementwise.js';
import { matmul } from './matmul.js';
import { reshape, transpose } from './views.js';

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

/**
 * y = x · Wᵀ + b for a quantised W [out, in]; x: [..., in] -> [..., out]. With `weightGrad`, a gradientSink of W's
 * shape, the op also records dL/dW = dYᵀ · X (f32, [out, in]) into the sink's `.grad`, so that an optimiser can train
 * the quantised weight (Q-GaLore) without an f32 copy of it; dX = dY · Ŵ stays a quantised GEMM.
 */
export function quantLinear(x: Tensor, weight: QuantizedTensor, bias?: Tensor | null, weightGrad?: Tensor): Tensor {
  if (weight.transposed)
    throw new ShapeError(`linear weight must be [out, in], got a transposed ${weight.format} view`);
  if (x.shape[x.rank - 1] !== weight.cols) {
    throw new ShapeError(`linear: input [${x.shape}] does not end in ${weight.cols} features`);
  }
  if (
    weightGrad &&
    (weightGrad.rank !== 2 || weightGrad.shape[0] !== weight.rows || weightGrad.shape[1] !== weight.cols)
  ) {
    throw new ShapeError(
      `linear: a weight gradient [${weightGrad.shape}] for ${weight.format} [${weight.rows}, ${weight.cols}]`,
    );
  }
  let y: Tensor;
  if (weightGrad) {
    const input = asFloat(x);
    y = record(quantMatmul(input.detach(), weight.t()), 'quantLinear', [input, weightGrad], (g) => {
      const rows2d = (t: Tensor, width: number) => reshape(t, [-1, width]);
      return [
        input.requiresGrad ? quantMatmul(g, weight) : null,
        matmul(transpose(rows2d(g, weight.rows)), rows2d(input, weight.cols)),
      ];
    });
  } else {
    y = quantMatmul(x, weight.t());
  }
  return bias ? add(y, bias) : y;
}
