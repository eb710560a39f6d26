import { allocate, collapseAxes, kernelsFor } from '../backends/kernels.js';
import { record } from '../engine/autograd.js';
import { ShapeError } from '../engine/errors.js';
import { QuantizedTensor } from '../engine/quant/quantized-tensor.js';
import { broadcastShapes, broadcastStrides, contiguousStrides, numel } from '../engine/shape.js';
import { asFloat, resultDType, Tensor } from '../engine/tensor.js';
import { add } from './elementwise.js';
import { quantLinear, quantMatmul } from './quant-matmul.js';
import { sumTo } from './reduce.js';
import { contiguous, reshape, squeeze, transpose, unsqueeze } from './views.js';

/** How a matrix (the last two axes) is laid out for GEMM, without copying when possible. */
function gemmLayout(t: Tensor): { t: Tensor; trans: boolean; ld: number } {
  const r = t.rank;
  const rows = t.shape[r - 2];
  const cols = t.shape[r - 1];
  const sr = t.strides[r - 2];
  const sc = t.strides[r - 1];
  if ((sc === 1 || cols === 1) && (sr >= cols || rows === 1)) return { t, trans: false, ld: Math.max(sr, cols, 1) };
  if ((sr === 1 || rows === 1) && (sc >= rows || cols === 1)) return { t, trans: true, ld: Math.max(sc, rows, 1) };
  const c = contiguous(t);
  return { t: c, trans: false, ld: Math.max(cols, 1) };
}

/** Batched matrix product of tensors of rank >= 2 whose batch axes broadcast. No autograd. */
function matmulRaw(a: Tensor, b: Tensor): Tensor {
  const m = a.shape[a.rank - 2];
  const k = a.shape[a.rank - 1];
  const n = b.shape[b.rank - 1];
  if (b.shape[b.rank - 2] !== k) throw new ShapeError(`matmul: [${a.shape}] @ [${b.shape}] inner sizes differ`);
  const batchShape = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const dtype = resultDType(a, b);
  const outShape = [...batchShape, m, n];
  const out = allocate(dtype, numel(outShape));
  if (out.length === 0) return new Tensor(out, outShape, dtype);
  const la = gemmLayout(a);
  const lb = gemmLayout(b);
  // f64 (and a mixed f32 · f64 product, whose result is f64) resolves to the TypeScript GEMM in kernelsFor.
  const kernel = kernelsFor(dtype).gemm;
  const aBatch = broadcastStrides(la.t.shape.slice(0, -2), la.t.strides.slice(0, -2), batchShape);
  const bBatch = broadcastStrides(lb.t.shape.slice(0, -2), lb.t.strides.slice(0, -2), batchShape);
  const cBatch = contiguousStrides(batchShape).map((s) => s * m * n);
  const { shape: cs, strides } = collapseAxes(batchShape, [aBatch, bBatch, cBatch]);
  const inner = cs.length > 0 ? cs[cs.length - 1] : 1;
  const outer = cs.slice(0, -1);
  const outerCount = numel(outer);
  const idx = new Array<number>(outer.length).fill(0);
  for (let o = 0; o < outerCount; o++) {
    let aOff = la.t.offset;
    let bOff = lb.t.offset;
    let cOff = 0;
    for (let d = 0; d < outer.length; d++) {
      aOff += idx[d] * strides[0][d];
      bOff += idx[d] * strides[1][d];
      cOff += idx[d] * strides[2][d];
    }
    const last = cs.length - 1;
    kernel({
      transA: la.trans,
      transB: lb.trans,
      m,
      n,
      k,
      alpha: 1,
      beta: 0,
      a: la.t.storage,
      aOffset: aOff,
      lda: la.ld,
      strideA: last >= 0 ? strides[0][last] : 0,
      b: lb.t.storage,
      bOffset: bOff,
      ldb: lb.ld,
      strideB: last >= 0 ? strides[1][last] : 0,
      c: out,
      cOffset: cOff,
      ldc: n,
      strideC: m * n,
      batch: inner,
    });
    for (let d = outer.length - 1; d >= 0; d--) {
      if (++idx[d] < outer[d]) break;
      idx[d] = 0;
    }
  }
  return new Tensor(out, outShape, dtype);
}

/**
 * Matrix product with NumPy/PyTorch semantics: 1-D operands are promoted and the added axis removed,
 * batch axes broadcast, and transposed views are read in place (no copy). b may be quantised (see quantMatmul).
 */
export function matmul(a: Tensor, b: Tensor | QuantizedTensor): Tensor {
  if (b instanceof QuantizedTensor) return quantMatmul(a, b);
  const x = asFloat(a);
  const y = asFloat(b);
  if (x.rank === 0 || y.rank === 0) throw new ShapeError('matmul does not take scalars; use mul');
  if (x.rank === 1 && y.rank === 1) return reshape(matmul(unsqueeze(x, 0), unsqueeze(y, 1)), []);
  if (x.rank === 1) return squeeze(matmul(unsqueeze(x, 0), y), -2);
  if (y.rank === 1) return squeeze(matmul(x, unsqueeze(y, 1)), -1);
  const out = matmulRaw(x, y);
  return record(out, 'matmul', [x, y], (g) => [
    x.requiresGrad ? sumTo(matmulRaw(g, transpose(y)), x.shape) : null,
    y.requiresGrad ? sumTo(matmulRaw(transpose(x), g), y.shape) : null,
  ]);
}

/** y = x · Wᵀ + b, with W: [out, in] as in PyTorch (or quantised). x: [..., in] -> [..., out]. */
export function linear(x: Tensor, weight: Tensor | QuantizedTensor, bias?: Tensor | null): Tensor {
  if (weight instanceof QuantizedTensor) return quantLinear(x, weight, bias);
  if (weight.rank !== 2) throw new ShapeError(`linear weight must be 2-D [out, in], got [${weight.shape}]`);
  const inF = weight.shape[1];
  if (x.shape[x.rank - 1] !== inF) {
    throw new ShapeError(`linear: input [${x.shape}] does not end in ${inF} features`);
  }
  // Fold batch axes into rows so the whole layer is one GEMM.
  const rows = reshape(contiguous(x), [-1, inF]);
  let y = matmul(rows, transpose(weight));
  if (bias) y = add(y, bias);
  return reshape(y, [...x.shape.slice(0, -1), weight.shape[0]]);
}
