import { allocate, type Handles, kernelsFor, type RopeTable, upload } from '../backends/kernels.js';
import { record } from '../engine/autograd.js';
import { allocStorage, type FloatArray, type FloatDType } from '../engine/dtype.js';
import { ShapeError } from '../engine/errors.js';
import { broadcastStrides, numel, type Shape } from '../engine/shape.js';
import { asFloat, resultDType, Tensor } from '../engine/tensor.js';

/** HF `rope_scaling` variants (keys in camelCase). */
export type RopeScaling =
  | { type: 'default' }
  /** Position interpolation: every frequency divided by factor. */
  | { type: 'linear'; factor: number }
  /** Llama 3.1: low frequencies divided by factor, high ones kept, a smooth ramp between. */
  | {
      type: 'llama3';
      factor: number;
      lowFreqFactor: number;
      highFreqFactor: number;
      originalMaxPositionEmbeddings: number;
    };

export interface RopeOptions {
  /** Base of the geometric frequency series (HF rope_theta). */
  theta?: number;
  scaling?: RopeScaling;
  /** f32 (default) rounds every step as HF does in float32; f64 keeps full precision. */
  dtype?: FloatDType;
}

/**
 * The D/2 inverse frequencies as HF's ROPE_INIT_FUNCTIONS compute them:
 * 1 / theta^(2i/D), then scaled by the rope type.
 */
export function ropeInvFreq(headDim: number, options: RopeOptions = {}): FloatArray {
  if (!Number.isInteger(headDim) || headDim < 2 || headDim % 2 !== 0) {
    throw new ShapeError(`rotary head dimension must be a positive even integer, got ${headDim}`);
  }
  const theta = options.theta ?? 10000;
  const scaling = options.scaling ?? { type: 'default' };
  const dtype = options.dtype ?? 'f32';
  const round = dtype === 'f32' ? Math.fround : (v: number) => v;
  const half = headDim / 2;
  const inv = allocStorage(dtype, half) as FloatArray;
  for (let i = 0; i < half; i++) inv[i] = round(1 / round(theta ** round((2 * i) / headDim)));
  if (scaling.type === 'linear') {
    for (let i = 0; i < half; i++) inv[i] = inv[i] / scaling.factor;
  } else if (scaling.type === 'llama3') {
    // transformers' _compute_llama3_parameters, op by op as torch rounds them (scalar / t is t.reciprocal() · scalar).
    const { factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings: oldContext } = scaling;
    const lowFreqWavelen = oldContext / lowFreqFactor;
    const highFreqWavelen = oldContext / highFreqFactor;
    for (let i = 0; i < half; i++) {
      const wavelen = round(round(1 / inv[i]) * round(2 * Math.PI));
      if (wavelen > lowFreqWavelen) {
        inv[i] = inv[i] / factor;
      } else if (wavelen >= highFreqWavelen) {
        const smooth = round(
          round(round(round(1 / wavelen) * oldContext) - lowFreqFactor) / (highFreqFactor - lowFreqFactor),
        );
        inv[i] = round(round(round(round(1 - smooth) * inv[i]) / factor) + round(smooth * inv[i]));
      }
    }
  }
  return inv;
}

/**
 * cos and sin tables [T, D] for the given positions, as HF's rotary embedding computes them:
 * freqs = positions ⊗ inv_freq, emb = cat(freqs, freqs), cos = cos(emb), sin = sin(emb).
 */
export function ropeCosSin(
  positions: readonly number[] | Int32Array,
  headDim: number,
  options: RopeOptions = {},
): { cos: Tensor; sin: Tensor } {
  const dtype = options.dtype ?? 'f32';
  const round = dtype === 'f32' ? Math.fround : (v: number) => v;
  const inv = ropeInvFreq(headDim, options);
  const half = headDim / 2;
  const t = positions.length;
  const cos = allocStorage(dtype, t * headDim) as FloatArray;
  const sin = allocStorage(dtype, t * headDim) as FloatArray;
  for (let p = 0; p < t; p++) {
    for (let i = 0; i < half; i++) {
      const angle = round(round(positions[p]) * inv[i]);
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      cos[p * headDim + i] = c;
      cos[p * headDim + half + i] = c;
      sin[p * headDim + i] = s;
      sin[p * headDim + half + i] = s;
    }
  }
  return { cos: new Tensor(cos, [t, headDim], dtype), sin: new Tensor(sin, [t, headDim], dtype) };
}

/** Where each row (all axes but the last) of a table broadcast to x's shape starts, and its step along D. */
function rowTable(t: Tensor, shape: Shape): Handles<RopeTable> {
  const strides = broadcastStrides(t.shape, t.strides, shape);
  const lead = shape.slice(0, -1);
  const rows = new Int32Array(numel(lead));
  const idx = new Array<number>(lead.length).fill(0);
  let p = t.offset;
  for (let r = 0; r < rows.length; r++) {
    rows[r] = p;
    for (let ax = lead.length - 1; ax >= 0; ax--) {
      p += strides[ax];
      if (++idx[ax] < lead[ax]) break;
      p -= strides[ax] * lead[ax];
      idx[ax] = 0;
    }
  }
  return { data: t.storage, rows: upload(rows), step: strides[strides.length - 1] };
}

/**
 * Rotary position embedding in HF LLaMA's rotate-half form: x·cos + rotate_half(x)·sin,
 * rotate_half(x) = cat(−x[..., D/2:], x[..., :D/2]).
 * x: [B, H, T, D]; cos, sin: [T, D] or anything broadcastable to x (e.g. [B, 1, T, D]).
 * cos and sin are constants: no gradient flows to them.
 */
export function applyRotary(input: Tensor, cosInput: Tensor, sinInput: Tensor): Tensor {
  const x = asFloat(input);
  const cos = asFloat(cosInput);
  const sin = asFloat(sinInput);
  if (x.rank === 0 || x.shape[x.rank - 1] % 2 !== 0) {
    throw new ShapeError(`applyRotary needs an even last axis, got input [${x.shape}]`);
  }
  const dim = x.shape[x.rank - 1];
  const cosRows = rowTable(cos, x.shape);
  const sinRows = rowTable(sin, x.shape);
  const dtype = resultDType(x, cos, sin);
  const out = allocate(dtype, x.size);
  kernelsFor(dtype).rope(x.denseStorage(), out, dim, cosRows, sinRows, false);
  return record(new Tensor(out, x.shape, dtype), 'applyRotary', [x], (g) => {
    const dx = allocate(x.dtype, x.size);
    kernelsFor(x.dtype).rope(g.denseStorage(), dx, dim, cosRows, sinRows, true);
    return [new Tensor(dx, x.shape, x.dtype)];
  });
}

/** HF apply_rotary_pos_emb: the same rotation applied to queries and keys. */
export function rotaryEmbedding(q: Tensor, k: Tensor, cos: Tensor, sin: Tensor): [Tensor, Tensor] {
  return [applyRotary(q, cos, sin), applyRotary(k, cos, sin)];
}
