import type { FloatArray } from '../../engine/dtype.js';

/** Lanes of torch's vectorised CPU sum of squares; summing the same way reproduces its f32 norms exactly. */
const LANES = 8;

const same = (x: number): number => x;

/**
 * out[at] = the L2 norm of x as torch's CPU kernel computes it: squares accumulated in x's precision across 8 lanes,
 * then the lanes and the leftover elements added in order.
 */
export function vectorNormTs(x: FloatArray, out: FloatArray, at: number): void {
  const wide = x instanceof Float64Array;
  const round = wide ? same : Math.fround;
  const lanes = wide ? new Float64Array(LANES) : new Float32Array(LANES);
  const bulk = x.length - (x.length % LANES);
  for (let i = 0; i < bulk; i += LANES) {
    for (let l = 0; l < LANES; l++) lanes[l] += round(x[i + l] * x[i + l]);
  }
  let sum = 0;
  for (let l = 0; l < LANES; l++) sum = round(sum + lanes[l]);
  for (let i = bulk; i < x.length; i++) sum = round(sum + round(x[i] * x[i]));
  out[at] = round(Math.sqrt(sum));
}
