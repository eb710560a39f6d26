import type { FloatArray } from '../../engine/dtype.js';

/** Where each row (all axes but the last) of a cos or sin table starts, and its step along D. */
export interface RopeTable {
  data: FloatArray;
  rows: Int32Array;
  step: number;
}

/**
 * out = src·cos + rotate_half(src)·sin row by row over contiguous [rows, dim], or its transpose (the
 * gradient map): out_j = src_j·cos_j − sign_j·src_p·sin_p, with p the partner index j ± D/2 and
 * sign_j = −1 below D/2.
 */
export function ropeTs(
  src: FloatArray,
  out: FloatArray,
  dim: number,
  cos: RopeTable,
  sin: RopeTable,
  transpose: boolean,
): void {
  const half = dim / 2;
  for (let r = 0; r < cos.rows.length; r++) {
    const base = r * dim;
    const co = cos.rows[r];
    const so = sin.rows[r];
    for (let j = 0; j < dim; j++) {
      const lower = j < half;
      const partner = lower ? j + half : j - half;
      const sign = lower ? -1 : 1;
      const sinAt = transpose ? -sin.data[so + partner * sin.step] : sin.data[so + j * sin.step];
      out[base + j] = src[base + j] * cos.data[co + j * cos.step] + sign * src[base + partner] * sinAt;
    }
  }
}
