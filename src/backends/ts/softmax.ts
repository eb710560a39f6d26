import type { FloatArray } from '../../engine/dtype.js';
import { ShapeError } from '../../engine/errors.js';

/**
 * Stable softmax (or log-softmax) along the middle axis of a contiguous [outer, len, inner] array.
 * Each line subtracts its max before exponentiating; sums run in f64. `out` may alias `x`.
 */
export function softmaxForwardTs(
  x: FloatArray,
  out: FloatArray,
  outer: number,
  len: number,
  inner: number,
  log: boolean,
): void {
  for (let o = 0; o < outer; o++) {
    for (let k = 0; k < inner; k++) {
      const base = o * len * inner + k;
      let max = Number.NEGATIVE_INFINITY;
      for (let i = 0, p = base; i < len; i++, p += inner) if (x[p] > max || Number.isNaN(x[p])) max = x[p];
      let total = 0;
      for (let i = 0, p = base; i < len; i++, p += inner) total += Math.exp(x[p] - max);
      if (log) {
        // (x − max) − log Σ, in this order: adding log Σ to a huge max would round it away.
        const logTotal = Math.log(total);
        for (let i = 0, p = base; i < len; i++, p += inner) out[p] = x[p] - max - logTotal;
      } else {
        for (let i = 0, p = base; i < len; i++, p += inner) out[p] = Math.exp(x[p] - max) / total;
      }
    }
  }
}

/**
 * In place on [rows, len] from `offset`: row r becomes the softmax over columns lo[r]..hi[r] and 0
 * elsewhere (all 0 when lo[r] > hi[r]). This is the causal / sliding-window attention mask.
 */
export function softmaxBandsTs(
  x: FloatArray,
  offset: number,
  rows: number,
  len: number,
  lo: Int32Array,
  hi: Int32Array,
): void {
  for (let r = 0; r < rows; r++) {
    const row = offset + r * len;
    const a = Math.max(0, lo[r]);
    const b = Math.min(len - 1, hi[r]);
    if (a > b) {
      x.fill(0, row, row + len);
      continue;
    }
    x.fill(0, row, row + a);
    x.fill(0, row + b + 1, row + len);
    const span = x.subarray(row + a, row + b + 1);
    softmaxForwardTs(span, span, 1, b - a + 1, 1, false);
  }
}

/**
 * Gradient of softmaxForwardTs from its output y: softmax dx = y·(g − Σ g·y),
 * log-softmax dx = g − exp(y)·Σ g. Same [outer, len, inner] layout; `dx` may alias `g`.
 */
export function softmaxBackwardTs(
  y: FloatArray,
  g: FloatArray,
  dx: FloatArray,
  outer: number,
  len: number,
  inner: number,
  log: boolean,
): void {
  for (let o = 0; o < outer; o++) {
    for (let k = 0; k < inner; k++) {
      const base = o * len * inner + k;
      let dot = 0;
      if (log) {
        for (let i = 0, p = base; i < len; i++, p += inner) dot += g[p];
        for (let i = 0, p = base; i < len; i++, p += inner) dx[p] = g[p] - Math.exp(y[p]) * dot;
      } else {
        for (let i = 0, p = base; i < len; i++, p += inner) dot += g[p] * y[p];
        for (let i = 0, p = base; i < len; i++, p += inner) dx[p] = y[p] * (g[p] - dot);
      }
    }
  }
}

/** What crossEntropyForwardTs needs besides the logits: targets per row and the torch options. */
export interface CrossEntropyRows {
  /** Class index per row; rows equal to ignoreIndex contribute nothing. */
  targets: Int32Array | Int8Array | Uint8Array;
  rows: number;
  classes: number;
  ignoreIndex: number;
  /** Label smoothing ε: the target distribution is (1−ε)·onehot + ε/C. */
  smoothing: number;
}

/** Per-row softmax statistics kept for the backward: p_c = exp(x_c − max − logSum). */
export interface RowStats {
  max: Float64Array;
  logSum: Float64Array;
}

/** Throws unless every target is ignoreIndex or a class in [0, classes): what each crossEntropyForward checks first. */
export function checkTargets({ targets, rows, classes, ignoreIndex }: CrossEntropyRows): void {
  for (let r = 0; r < rows; r++) {
    const t = targets[r];
    if (t !== ignoreIndex && (t < 0 || t >= classes)) {
      throw new ShapeError(`target ${t} at row ${r} is out of range for ${classes} classes`);
    }
  }
}

/**
 * Per-row cross entropy of logits [rows, classes]: (1−ε)·(lse − x_t) + ε·(lse − mean_c x_c).
 * Writes each row's loss (0 for ignored rows) and softmax statistics; returns the number of counted rows.
 */
export function crossEntropyForwardTs(
  logits: FloatArray,
  spec: CrossEntropyRows,
  losses: FloatArray,
  stats: RowStats,
): number {
  checkTargets(spec);
  const { targets, rows, classes: c, ignoreIndex, smoothing } = spec;
  let counted = 0;
  for (let r = 0; r < rows; r++) {
    const t = targets[r];
    if (t === ignoreIndex) {
      losses[r] = 0;
      continue;
    }
    counted++;
    const base = r * c;
    let max = Number.NEGATIVE_INFINITY;
    let total = 0;
    for (let j = 0; j < c; j++) {
      const v = logits[base + j];
      if (v > max || Number.isNaN(v)) max = v;
      total += v;
    }
    let expSum = 0;
    for (let j = 0; j < c; j++) expSum += Math.exp(logits[base + j] - max);
    const logSum = Math.log(expSum);
    stats.max[r] = max;
    stats.logSum[r] = logSum;
    // Differences from the max first, so that huge logits do not swamp log Σ.
    const nll = max - logits[base + t] + logSum;
    const uniform = max - total / c + logSum;
    losses[r] = smoothing === 0 ? nll : (1 - smoothing) * nll + smoothing * uniform;
  }
  return counted;
}

/**
 * dL/dlogits = rowGrad[r] · (softmax − (1−ε)·onehot − ε/C); zero on ignored rows.
 * rowGrad holds each row's upstream gradient (already divided by the count for a mean).
 */
export function crossEntropyBackwardTs(
  logits: FloatArray,
  spec: CrossEntropyRows,
  stats: RowStats,
  rowGrad: FloatArray,
  dx: FloatArray,
): void {
  const { targets, rows, classes: c, ignoreIndex, smoothing } = spec;
  const uniform = smoothing / c;
  for (let r = 0; r < rows; r++) {
    const base = r * c;
    const t = targets[r];
    if (t === ignoreIndex) {
      dx.fill(0, base, base + c);
      continue;
    }
    const g = rowGrad[r];
    const max = stats.max[r];
    const logSum = stats.logSum[r];
    for (let j = 0; j < c; j++) dx[base + j] = g * (Math.exp(logits[base + j] - max - logSum) - uniform);
    dx[base + t] -= g * (1 - smoothing);
  }
}
