import {
  type AttentionArgs,
  type AttentionMask,
  allocate,
  type Handles,
  kernelsFor,
  type StorageHandle,
  stridedOperand,
} from '../backends/kernels.js';
import { record } from '../engine/autograd.js';
import type { FloatDType } from '../engine/dtype.js';
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

function floatIn(t: Tensor, dtype: FloatDType): StorageHandle {
  return (t.dtype === dtype ? t : t.to(dtype)).denseStorage();
}

/** The mask as the kernel reads it: [B, Hq, T, S] broadcast strides, a float mask in the compute dtype. */
function maskView(mask: Tensor, shape: number[], dtype: FloatDType): Handles<AttentionMask> {
  const isBool = mask.dtype === 'bool';
  if (!isBool && mask.dtype !== 'f32' && mask.dtype !== 'f64' && mask.dtype !== 'f16' && mask.dtype !== 'bf16') {
    throw new DTypeError(`attention mask must be bool or float, got ${mask.dtype}`);
  }
  const m = isBool || mask.dtype === dtype ? mask : mask.to(dtype);
  return stridedOperand(m, broadcastStrides(m.shape, m.strides, shape));
}

/**
 * Fused scaled dot-product attention with grouped-query heads:
 * softmax(scale · Q Kᵀ + mask) V, where query head h reads kv head floor(h / (Hq / Hkv)).
 * q: [B, Hq, T, D], k: [B, Hkv, S, D], v: [B, Hkv, S, Dv] -> [B, Hq, T, Dv].
 * One kernel call each way; the backward recomputes the probabilities from the saved per-row log-sum-exp, so no
 * [T, S] tensor is ever held. Rows with no visible key give 0 and get no gradient.
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
  const dtype = resultDType(q, k, v);
  const args: Handles<AttentionArgs> = {
    batch,
    heads,
    kvHeads,
    t,
    s,
    d,
    dv,
    scale: options.scale ?? 1 / Math.sqrt(d),
    causal: options.causal ?? true,
    window: window ?? 0,
    mask: options.mask ? maskView(options.mask, [batch, heads, t, s], dtype) : null,
  };
  const qData = floatIn(q, dtype);
  const kData = floatIn(k, dtype);
  const vData = floatIn(v, dtype);
  const out = allocate(dtype, batch * heads * t * dv);
  // Each row's log-sum-exp: with out, all the backward needs to recompute the probabilities block by block.
  const lse = allocate(dtype, batch * heads * t);
  kernelsFor(dtype).attentionForward(args, qData, kData, vData, out, lse);
  const result = new Tensor(out, [batch, heads, t, dv], dtype);
  return record(result, 'scaledDotProductAttention', [q, k, v], (grad) => {
    const dq = q.requiresGrad ? allocate(dtype, q.size) : null;
    const dk = k.requiresGrad ? allocate(dtype, k.size) : null;
    const dvOut = v.requiresGrad ? allocate(dtype, v.size) : null;
    kernelsFor(dtype).attentionBackward(args, qData, kData, vData, out, lse, floatIn(grad, dtype), dq, dk, dvOut);
    return [
      dq && new Tensor(dq, q.shape, dtype),
      dk && new Tensor(dk, k.shape, dtype),
      dvOut && new Tensor(dvOut, v.shape, dtype),
    ];
  });
}
