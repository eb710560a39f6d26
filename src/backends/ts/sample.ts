import type { FloatArray } from '../../engine/dtype.js';

/**
 * out[0] = a position drawn from scores sorted largest first, as transformers' temperature and top-p warpers then
 * multinomial sampling: weights exp((scores[i] − scores[0]) / temperature) in f64, cut to the shortest prefix whose
 * probability reaches topP (at least one; topP ≥ 1 keeps all), and `uniform` (in [0, 1)) placed in their running sum.
 */
export function sampleSortedTs(
  scores: FloatArray,
  temperature: number,
  topP: number,
  uniform: number,
  out: Int32Array,
): void {
  const n = scores.length;
  const weights = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    weights[i] = Math.exp((scores[i] - scores[0]) / temperature);
    total += weights[i];
  }
  let kept = n;
  if (topP < 1) {
    let cumulative = 0;
    for (let i = 0; i < n; i++) {
      cumulative += weights[i] / total;
      if (cumulative >= topP) {
        kept = i + 1;
        break;
      }
    }
  }
  let mass = 0;
  for (let i = 0; i < kept; i++) mass += weights[i];
  let r = uniform * mass;
  for (let i = 0; i < kept; i++) {
    r -= weights[i];
    if (r <= 0) {
      out[0] = i;
      return;
    }
  }
  out[0] = kept - 1;
}
