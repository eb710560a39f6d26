import type { FloatArray } from '../../engine/dtype.js';

/**
 * RMSNorm over the last axis of contiguous rows, as HF LlamaRMSNorm:
 * out = weight · (x · rsqrt(mean(x²) + eps)), the normalised value rounded to out's precision
 * before the weight multiplies it. Writes each row's rsqrt into rstd (for the backward).
 */
export function rmsNormForwardTs(
  x: FloatArray,
  weight: FloatArray,
  out: FloatArray,
  rstd: Float64Array,
  rows: number,
  dim: number,
  eps: number,
): void {
  // f32 output rounds each step as torch does in float32; the sum itself runs in f64.
  const round = out instanceof Float32Array ? Math.fround : (v: number) => v;
  for (let r = 0; r < rows; r++) {
    const base = r * dim;
    let squares = 0;
    for (let i = 0; i < dim; i++) squares += x[base + i] * x[base + i];
    const scale = round(1 / Math.sqrt(round(round(squares / dim) + eps)));
    rstd[r] = scale;
    for (let i = 0; i < dim; i++) {
      out[base + i] = x[base + i] * scale;
      out[base + i] = weight[i] * out[base + i];
    }
  }
}

/**
 * RMSNorm gradients: dx_i = r·w_i·g_i − x_i·r³/dim · Σ_j g_j·w_j·x_j and dw_i += Σ_rows g_i·x_i·r.
 * Either output may be null when that input needs no gradient; dw accumulates (pass zeros).
 */
export function rmsNormBackwardTs(
  x: FloatArray,
  weight: FloatArray,
  rstd: Float64Array,
  g: FloatArray,
  dx: FloatArray | null,
  dw: Float64Array | null,
  rows: number,
  dim: number,
): void {
  for (let r = 0; r < rows; r++) {
    const base = r * dim;
    const scale = rstd[r];
    if (dw) for (let i = 0; i < dim; i++) dw[i] += g[base + i] * x[base + i] * scale;
    if (!dx) continue;
    let dot = 0;
    for (let i = 0; i < dim; i++) dot += g[base + i] * weight[i] * x[base + i];
    const coef = (scale * scale * scale * dot) / dim;
    for (let i = 0; i < dim; i++) dx[base + i] = scale * weight[i] * g[base + i] - x[base + i] * coef;
  }
}

/**
 * LayerNorm over the last axis of contiguous rows, as torch: out = (x − mean)·rstd·w + b with the
 * biased variance. weight/bias may be null (identity / zero). Writes each row's mean and rstd.
 */
export function layerNormForwardTs(
  x: FloatArray,
  weight: FloatArray | null,
  bias: FloatArray | null,
  out: FloatArray,
  mean: Float64Array,
  rstd: Float64Array,
  rows: number,
  dim: number,
  eps: number,
): void {
  for (let r = 0; r < rows; r++) {
    const base = r * dim;
    let total = 0;
    for (let i = 0; i < dim; i++) total += x[base + i];
    const mu = total / dim;
    // Two passes: the centred sum of squares does not cancel catastrophically.
    let squares = 0;
    for (let i = 0; i < dim; i++) squares += (x[base + i] - mu) * (x[base + i] - mu);
    const scale = 1 / Math.sqrt(squares / dim + eps);
    mean[r] = mu;
    rstd[r] = scale;
    for (let i = 0; i < dim; i++) {
      const xhat = (x[base + i] - mu) * scale;
      out[base + i] = (weight ? xhat * weight[i] : xhat) + (bias ? bias[i] : 0);
    }
  }
}

/**
 * LayerNorm gradients with x̂ = (x − mean)·rstd and u = g·w:
 * dx = rstd·(u − mean(u) − x̂·mean(u·x̂)), dw += Σ_rows g·x̂, db += Σ_rows g.
 * Null outputs are skipped; dw and db accumulate (pass zeros).
 */
export function layerNormBackwardTs(
  x: FloatArray,
  weight: FloatArray | null,
  mean: Float64Array,
  rstd: Float64Array,
  g: FloatArray,
  dx: FloatArray | null,
  dw: Float64Array | null,
  db: Float64Array | null,
  rows: number,
  dim: number,
): void {
  for (let r = 0; r < rows; r++) {
    const base = r * dim;
    const mu = mean[r];
    const scale = rstd[r];
    let sumU = 0;
    let sumUX = 0;
    for (let i = 0; i < dim; i++) {
      const gi = g[base + i];
      const xhat = (x[base + i] - mu) * scale;
      const u = weight ? gi * weight[i] : gi;
      sumU += u;
      sumUX += u * xhat;
      if (dw) dw[i] += gi * xhat;
      if (db) db[i] += gi;
    }
    if (!dx) continue;
    const meanU = sumU / dim;
    const meanUX = sumUX / dim;
    for (let i = 0; i < dim; i++) {
      const xhat = (x[base + i] - mu) * scale;
      const u = weight ? g[base + i] * weight[i] : g[base + i];
      dx[base + i] = scale * (u - meanU - xhat * meanUX);
    }
  }
}
