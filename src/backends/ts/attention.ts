import type { FloatArray } from '../../engine/dtype.js';

/** A mask read as [B, Hq, T, S] through 4 broadcast strides from `offset`. */
export interface AttentionMask {
  /** Uint8Array: non-zero = may attend; float: added to the scaled scores. */
  data: FloatArray | Uint8Array;
  strides: readonly number[];
  offset: number;
}

/**
 * Sizes and rules of one attention call. q: [B, Hq, T, D], k: [B, Hkv, S, D], v: [B, Hkv, S, Dv], all contiguous;
 * query head h reads kv head floor(h / (Hq / Hkv)).
 */
export interface AttentionArgs {
  batch: number;
  heads: number;
  kvHeads: number;
  t: number;
  s: number;
  d: number;
  dv: number;
  scale: number;
  /** Query i sees keys j <= i + S − T. */
  causal: boolean;
  /** Mistral window w > 0: query i also needs j > i + S − T − w; 0 for none. */
  window: number;
  mask: AttentionMask | null;
}

/** Keys per block of the online softmax: one block of scores is the only [T, S]-like scratch. */
const KEY_BLOCK = 64;

/** The band of keys query i may see before the user mask: [lo, hi], empty when lo > hi. */
export function visibleKeys(args: AttentionArgs, i: number): [number, number] {
  const shift = args.s - args.t;
  const lo = args.window > 0 ? Math.max(0, i + shift - args.window + 1) : 0;
  const hi = args.causal ? Math.min(args.s - 1, i + shift) : args.s - 1;
  return [lo, hi];
}

/**
 * Scores of query row i (at qOff) against keys j0..j1−1 (kv rows from kOff) into scores[0..): scale · q·k plus the
 * float mask, −∞ where a bool mask forbids; returns their max. maskRow is the mask's offset for (b, h, i).
 */
function blockScores(
  args: AttentionArgs,
  q: FloatArray,
  qOff: number,
  k: FloatArray,
  kOff: number,
  maskRow: number,
  j0: number,
  j1: number,
  scores: Float64Array,
): number {
  const { d, scale, mask } = args;
  let max = Number.NEGATIVE_INFINITY;
  for (let j = j0; j < j1; j++) {
    const kRow = kOff + j * d;
    let dot = 0;
    for (let c = 0; c < d; c++) dot += q[qOff + c] * k[kRow + c];
    let score = scale * dot;
    if (mask) {
      const m = mask.data[maskRow + j * mask.strides[3]];
      if (mask.data instanceof Uint8Array) {
        if (m === 0) score = Number.NEGATIVE_INFINITY;
      } else score += m;
    }
    scores[j - j0] = score;
    if (score > max) max = score;
  }
  return max;
}

/** Where query row i of head h in batch b starts in the mask, or 0 without one. */
function maskRowOffset(mask: AttentionMask | null, b: number, h: number, i: number): number {
  return mask ? mask.offset + b * mask.strides[0] + h * mask.strides[1] + i * mask.strides[2] : 0;
}

/**
 * Flash-style attention forward: out [B, Hq, T, Dv] = softmax(scale · Q Kᵀ + mask) V with an online softmax over
 * blocks of KEY_BLOCK keys, and lse [B, Hq, T], each row's log Σ exp of its scores (the backward's only statistic).
 * A row with no visible key outputs 0 and gets lse = +∞, so that the backward's exp(score − lse) is 0 there.
 * Sums run in f64; out and lse take the arrays' precision.
 */
export function attentionForwardTs(
  args: AttentionArgs,
  q: FloatArray,
  k: FloatArray,
  v: FloatArray,
  out: FloatArray,
  lse: FloatArray,
): void {
  const { batch, heads, kvHeads, t, s, d, dv, mask } = args;
  const group = heads / kvHeads;
  const scores = new Float64Array(KEY_BLOCK);
  const acc = new Float64Array(dv);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const kv = b * kvHeads + Math.floor(h / group);
      const kOff = kv * s * d;
      const vOff = kv * s * dv;
      for (let i = 0; i < t; i++) {
        const row = (b * heads + h) * t + i;
        const [lo, hi] = visibleKeys(args, i);
        const maskRow = maskRowOffset(mask, b, h, i);
        let max = Number.NEGATIVE_INFINITY;
        let total = 0;
        acc.fill(0);
        for (let j0 = lo; j0 <= hi; j0 += KEY_BLOCK) {
          const j1 = Math.min(hi + 1, j0 + KEY_BLOCK);
          const blockMax = blockScores(args, q, row * d, k, kOff, maskRow, j0, j1, scores);
          if (blockMax === Number.NEGATIVE_INFINITY) continue;
          // Rescale what earlier blocks summed to the new max (nothing to rescale before the first visible key).
          const newMax = Math.max(max, blockMax);
          if (max !== Number.NEGATIVE_INFINITY && newMax !== max) {
            const alpha = Math.exp(max - newMax);
            total *= alpha;
            for (let c = 0; c < dv; c++) acc[c] *= alpha;
          }
          max = newMax;
          for (let j = j0; j < j1; j++) {
            const p = Math.exp(scores[j - j0] - max);
            if (p === 0) continue;
            total += p;
            const vRow = vOff + j * dv;
            for (let c = 0; c < dv; c++) acc[c] += p * v[vRow + c];
          }
        }
        const o = row * dv;
        if (total === 0) {
          out.fill(0, o, o + dv);
          lse[row] = Number.POSITIVE_INFINITY;
          continue;
        }
        for (let c = 0; c < dv; c++) out[o + c] = acc[c] / total;
        lse[row] = max + Math.log(total);
      }
    }
  }
}

/**
 * FlashAttention-2 backward from the forward's out and lse: the probabilities P = exp(score − lse) are recomputed
 * block by block, D_i = Σ dO_i ⊙ O_i, dS = P ⊙ (dO Vᵀ − D_i), then dQ = scale · dS K, dK = scale · dSᵀ Q and
 * dV = Pᵀ dO, dK and dV summed over each kv group's query heads. A null output is skipped; the others are
 * overwritten. Sums run in f64.
 */
export function attentionBackwardTs(
  args: AttentionArgs,
  q: FloatArray,
  k: FloatArray,
  v: FloatArray,
  out: FloatArray,
  lse: FloatArray,
  dOut: FloatArray,
  dq: FloatArray | null,
  dk: FloatArray | null,
  dvOut: FloatArray | null,
): void {
  const { batch, heads, kvHeads, t, s, d, dv, scale, mask } = args;
  const group = heads / kvHeads;
  const scores = new Float64Array(KEY_BLOCK);
  const dqRow = new Float64Array(d);
  // One kv head's dK and dV, summed over its query heads in f64 before they are rounded to the output.
  const dkHead = new Float64Array(s * d);
  const dvHead = new Float64Array(s * dv);
  for (let b = 0; b < batch; b++) {
    for (let g = 0; g < kvHeads; g++) {
      const kv = b * kvHeads + g;
      const kOff = kv * s * d;
      const vOff = kv * s * dv;
      dkHead.fill(0);
      dvHead.fill(0);
      for (let h = g * group; h < (g + 1) * group; h++) {
        for (let i = 0; i < t; i++) {
          const row = (b * heads + h) * t + i;
          const qOff = row * d;
          const oOff = row * dv;
          const rowLse = lse[row];
          dqRow.fill(0);
          // A row with no visible key (lse = +∞) has P = 0 everywhere and so no gradient.
          if (rowLse !== Number.POSITIVE_INFINITY) {
            let rowDot = 0;
            for (let c = 0; c < dv; c++) rowDot += dOut[oOff + c] * out[oOff + c];
            const [lo, hi] = visibleKeys(args, i);
            const maskRow = maskRowOffset(mask, b, h, i);
            for (let j0 = lo; j0 <= hi; j0 += KEY_BLOCK) {
              const j1 = Math.min(hi + 1, j0 + KEY_BLOCK);
              blockScores(args, q, qOff, k, kOff, maskRow, j0, j1, scores);
              for (let j = j0; j < j1; j++) {
                const p = Math.exp(scores[j - j0] - rowLse);
                if (p === 0) continue;
                const vRow = vOff + j * dv;
                let dp = 0;
                for (let c = 0; c < dv; c++) dp += dOut[oOff + c] * v[vRow + c];
                const dsScaled = scale * p * (dp - rowDot);
                const kRow = kOff + j * d;
                for (let c = 0; c < dv; c++) dvHead[j * dv + c] += p * dOut[oOff + c];
                for (let c = 0; c < d; c++) {
                  dqRow[c] += dsScaled * k[kRow + c];
                  dkHead[j * d + c] += dsScaled * q[qOff + c];
                }
              }
            }
          }
          if (dq) for (let c = 0; c < d; c++) dq[qOff + c] = dqRow[c];
        }
      }
      if (dk) for (let x = 0; x < s * d; x++) dk[kOff + x] = dkHead[x];
      if (dvOut) for (let x = 0; x < s * dv; x++) dvOut[vOff + x] = dvHead[x];
    }
  }
}
