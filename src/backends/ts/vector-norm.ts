import type { FloatArray } from '../../engine/dtype.js';

const fr = Math.fround;

/** Lanes of torch's vectorised CPU sum of squares; summing the same way reproduces its f32 norms exactly. */
const LANES = 8;

/**
 * out[at] = the L2 norm of x as torch's CPU kernel computes it: squares accumulated in x's precision across 8 lanes,
 * then the lanes and the leftover elements added in order.
 */
export function vectorNormTs(x: FloatArray, out: FloatArray, at: number): void {
  out[at] = x instanceof Float32Array ? normF32(x) : normF64(x);
}

// The two precisions as separate loops: a rounding function chosen at run time would cost a call per op.
function normF32(x: Float32Array): number {
  const lanes = new Float32Array(LANES);
  const bulk = x.length - (x.length % LANES);
  for (let i = 0; i < bulk; i += LANES) {
    for (let l = 0; l < LANES; l++) lanes[l] += fr(x[i + l] * x[i + l]);
  }
  let sum = 0;
  for (let l = 0; l < LANES; l++) sum = fr(sum + lanes[l]);
  for (let i = bulk; i < x.length; i++) sum = fr(sum + fr(x[i] * x[i]));
  return fr(Math.sqrt(sum));
}

function normF64(x: Float64Array): number {
  const lanes = new Float64Array(LANES);
  const bulk = x.length - (x.length % LANES);
  for (let i = 0; i < bulk; i += LANES) {
    for (let l = 0; l < LANES; l++) lanes[l] += x[i + l] * x[i + l];
  }
  let sum = 0;
  for (let l = 0; l < LANES; l++) sum += lanes[l];
  for (let i = bulk; i < x.length; i++) sum += x[i] * x[i];
  return Math.sqrt(sum);
}
