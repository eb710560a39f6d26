import { kernelsFor, stridedOperand } from '../backends/kernels.js';
import { needsGrad, record } from '../engine/autograd.js';
import { allocUninit, type FloatArray, type FloatDType, floatArrayDType } from '../engine/dtype.js';
import { DTypeError, ShapeError } from '../engine/errors.js';
import { broadcastStrides } from '../engine/shape.js';
import { asFloat, resultDType, Tensor } from '../engine/tensor.js';

export interface AttentionOptions {
  /** Query i sees keys j <= i + S − T (the causal mask aligned to the end, as with a KV cache). */
  causal?: boolean;
  /** Multiplies QKᵀ; 1/sqrt(D) by default. */
  scale?: number;
  /** Mistral-style window w: query i also needs j > i + S − T − w. */
  slidingWindow?: number;
  /**
   * Broadcastable to [B, Hq, T, S]: a bool mask (true = may attend) or a float mask added to the scores.
   * It is a constant: no gradient flows to it.
   */
  mask?: Tensor | null;
}

/** Which keys each query row of one kv group may see. */
interface Visibility {
  /** Query heads per kv head; their rows are contiguous, so one group is one [group·T, D] matrix. */
  group: number;
  t: number;
  s: number;
  causal: boolean;
  window: number | undefined;
  mask: MaskView | null;
}

/** A strided view of the mask, read as [B, Hq, T, S]. */
interface MaskView {
  data: FloatArray | Uint8Array;
  strides: number[];
  offset: number;
  isBool: boolean;
}

function floatIn(t: Tensor, dtype: FloatDType): FloatArray {
  return (t.dtype === dtype ? t : t.to(dtype)).floatData();
}

function maskView(mask: Tensor, shape: number[]): MaskView {
  const isBool = mask.dtype === 'bool';
  if (!isBool && mask.dtype !== 'f32' && mask.dtype !== 'f64' && mask.dtype !== 'f16' && mask.dtype !== 'bf16') {
    throw new DTypeError(`attention mask must be bool or float, got ${mask.dtype}`);
  }
  const m = isBool ? mask : asFloat(mask);
  const { data, strides, offset } = stridedOperand(m, broadcastStrides(m.shape, m.strides, shape));
  return { data: data as FloatArray | Uint8Array, strides: [...strides], offset, isBool };
}

/** One C = alpha · op(A) · op(B) on the active GEMM backend (a single matrix, no batch). */
function gemm(
  a: FloatArray,
  aOffset: number,
  transA: boolean,
  b: FloatArray,
  bOffset: number,
  transB: boolean,
  c: FloatArray,
  cOffset: number,
  m: number,
  n: number,
  k: number,
  alpha: number,
): void {
  kernelsFor(floatArrayDType(a)).gemm({
    transA,
    transB,
    m,
    n,
    k,
    alpha,
    beta: 0,
    a,
    aOffset,
    lda: transA ? m : k,
    strideA: 0,
    b,
    bOffset,
    ldb: transB ? k : n,
    strideB: 0,
    c,
    cOffset,
    ldc: n,
    strideC: 0,
    batch: 1,
  });
}

/**
 * Turn one kv group's scaled scores [group·T, S] (at `offset` in buf) into probabilities in place:
 * keys outside the causal / sliding window or masked out get probability 0, and a query row with
 * no visible key is all zeros.
 */
function maskedSoftmax(buf: FloatArray, offset: number, batch: number, kvHead: number, vis: Visibility): void {
  const { group, t, s, causal, window, mask } = vis;
  const shift = s - t;
  const rows = group * t;
  // Each row's visible band of keys; the user mask, if any, is applied to the scores inside it.
  const lo = new Int32Array(rows);
  const hi = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const i = r % t;
    lo[r] = window === undefined ? 0 : Math.max(0, i + shift - window + 1);
    hi[r] = causal ? Math.min(s - 1, i + shift) : s - 1;
    if (!mask || lo[r] > hi[r]) continue;
    const row = offset + r * s;
    const h = kvHead * group + Math.floor(r / t);
    const base = mask.offset + batch * mask.strides[0] + h * mask.strides[1] + i * mask.strides[2];
    let visible = false;
    for (let j = lo[r]; j <= hi[r]; j++) {
      const m = mask.data[base + j * mask.strides[3]];
      if (mask.isBool) {
        if (m === 0) buf[row + j] = Number.NEGATIVE_INFINITY;
      } else {
        buf[row + j] += m;
      }
      if (buf[row + j] !== Number.NEGATIVE_INFINITY) visible = true;
    }
    // A row whose every key is masked out gets probability 0 everywhere (an empty band).
    if (!visible) lo[r] = hi[r] + 1;
  }
  kernelsFor(floatArrayDType(buf)).softmaxBands(buf, offset, rows, s, lo, hi);
}

/**
 * Fused scaled dot-product attention with grouped-query heads:
 * softmax(scale · Q Kᵀ + mask) V, where query head h reads kv head floor(h / (Hq / Hkv)).
 * q: [B, Hq, T, D], k: [B, Hkv, S, D], v: [B, Hkv, S, Dv] -> [B, Hq, T, Dv].
 * The probabilities [B, Hq, T, S] are kept only when a gradient is needed; rows with no visible key give 0.
 */
export function scaledDotProductAttention(
  qInput: Tensor,
  kInput: Tensor,
  vInput: Tensor,
  options: AttentionOptions = {},
): Tensor {
  const q = asFloat(qInput);
  const k = asFloat(kInput);
  const v = asFloat(vInput);
  if (q.rank !== 4 || k.rank !== 4 || v.rank !== 4) {
    throw new ShapeError(`attention takes [B, H, T, D] tensors, got q [${q.shape}], k [${k.shape}], v [${v.shape}]`);
  }
  const [batch, heads, t, d] = q.shape;
  const [kBatch, kvHeads, s, kDim] = k.shape;
  const [vBatch, vHeads, vLen, dv] = v.shape;
  if (kBatch !== batch || vBatch !== batch || vHeads !== kvHeads || vLen !== s || kDim !== d) {
    throw new ShapeError(`attention shapes do not agree: q [${q.shape}], k [${k.shape}], v [${v.shape}]`);
  }
  if (kvHeads === 0 || heads % kvHeads !== 0) {
    throw new ShapeError(`query heads (${heads}) must be a multiple of kv heads (${kvHeads})`);
  }
  const window = options.slidingWindow;
  if (window !== undefined && !(Number.isInteger(window) && window > 0)) {
    throw new ShapeError(`slidingWindow must be a positive integer, got ${window}`);
  }
  const scale = options.scale ?? 1 / Math.sqrt(d);
  const group = heads / kvHeads;
  const vis: Visibility = {
    group,
    t,
    s,
    causal: options.causal ?? true,
    window,
    mask: options.mask ? maskView(options.mask, [batch, heads, t, s]) : null,
  };
  const dtype = resultDType(q, k, v);
  const qData = floatIn(q, dtype);
  const kData = floatIn(k, dtype);
  const vData = floatIn(v, dtype);
  const rows = group * t;
  const block = rows * s;
  const keepProbs = needsGrad(q, k, v);
  // With a gradient to come, every group's probabilities are kept; otherwise one block is reused.
  const probs = allocUninit(dtype, keepProbs ? batch * kvHeads * block : block) as FloatArray;
  const out = allocUninit(dtype, batch * heads * t * dv) as FloatArray;
  for (let b = 0; b < batch; b++) {
    for (let g = 0; g < kvHeads; g++) {
      const blk = b * kvHeads + g;
      const p = keepProbs ? blk * block : 0;
      // scores = scale · Q_g Kᵀ: [group·T, S]
      gemm(qData, blk * rows * d, false, kData, blk * s * d, true, probs, p, rows, s, d, scale);
      maskedSoftmax(probs, p, b, g, vis);
      // out_g = P V: [group·T, Dv]
      gemm(probs, p, false, vData, blk * s * dv, false, out, blk * rows * dv, rows, dv, s, 1);
    }
  }
  const result = new Tensor(out, [batch, heads, t, dv], dtype);
  return record(result, 'scaledDotProductAttention', [q, k, v], (grad) => {
    const dO = floatIn(grad, dtype);
    // Every block of each gradient is written once by a beta-0 GEMM, so no zero fill is needed.
    const dq = q.requiresGrad ? (allocUninit(dtype, q.size) as FloatArray) : null;
    const dk = k.requiresGrad ? (allocUninit(dtype, k.size) as FloatArray) : null;
    const dvOut = v.requiresGrad ? (allocUninit(dtype, v.size) as FloatArray) : null;
    const dScores = allocUninit(dtype, block) as FloatArray;
    for (let blk = 0; blk < batch * kvHeads; blk++) {
      const p = blk * block;
      const oOff = blk * rows * dv;
      // dV = Pᵀ dO, which also sums over the query heads of the group: [S, Dv]
      if (dvOut) gemm(probs, p, true, dO, oOff, false, dvOut, blk * s * dv, s, dv, rows, 1);
      if (!dq && !dk) continue;
      // dP = dO Vᵀ: [group·T, S], then through the softmax: dS = P ⊙ (dP − Σ dP ⊙ P)
      gemm(dO, oOff, false, vData, blk * s * dv, true, dScores, 0, rows, s, dv, 1);
      kernelsFor(floatArrayDType(probs)).softmaxBackward(
        probs.subarray(p, p + block),
        dScores,
        dScores,
        rows,
        s,
        1,
        false,
      );
      // dQ = scale · dS K: [group·T, D]; dK = scale · dSᵀ Q_g: [S, D]
      if (dq) gemm(dScores, 0, false, kData, blk * s * d, false, dq, blk * rows * d, rows, d, s, scale);
      if (dk) gemm(dScores, 0, true, qData, blk * rows * d, false, dk, blk * s * d, s, d, rows, scale);
    }
    return [
      dq && new Tensor(dq, q.shape, dtype),
      dk && new Tensor(dk, k.shape, dtype),
      dvOut && new Tensor(dvOut, v.shape, dtype),
    ];
  });
}
