const fr = Math.fround;

/** Adam's per-step scalars, each already rounded to f32 as torch casts them. */
export interface AdamScalars {
  /** 1 − β1: the lerp weight of the first moment. */
  weight1: number;
  /** β2 and 1 − β2 for the second moment. */
  decay2: number;
  weight2: number;
  /** √(1 − β2^t). */
  correction2: number;
  eps: number;
  /** −lr / (1 − β1^t). */
  negStepSize: number;
}

/** torch's CPU lerp kernel: a fused multiply-add from whichever end is nearer the weight. */
function lerp(start: number, end: number, weight: number): number {
  const diff = fr(end - start);
  return Math.abs(weight) < 0.5 ? fr(weight * diff + start) : fr(fr(weight - 1) * diff + end);
}

/**
 * Advance Adam's moments by one gradient (in place) and write the update −lr·m̂/(√v̂ + eps) into delta.
 * Each op rounds to f32 as torch's single-tensor path does (fused multiply-adds where its CPU kernels
 * fuse); maxExpAvgSq (AMSGrad) may be null.
 */
export function adamDeltaTs(
  grad: Float32Array,
  expAvg: Float32Array,
  expAvgSq: Float32Array,
  maxExpAvgSq: Float32Array | null,
  delta: Float32Array,
  s: AdamScalars,
): void {
  for (let i = 0; i < grad.length; i++) {
    const g = grad[i];
    expAvg[i] = lerp(expAvg[i], g, s.weight1);
    // addcmul is fused too: (w2·g)·g + v·β2 rounded once.
    expAvgSq[i] = fr(s.weight2 * g) * g + fr(expAvgSq[i] * s.decay2);
    let second = expAvgSq[i];
    if (maxExpAvgSq) second = maxExpAvgSq[i] = Math.max(maxExpAvgSq[i], second);
    // Correctly rounded sqrt; torch's vectorised f32 sqrt is sometimes 1 ulp off, the one place results differ.
    const denom = fr(fr(fr(Math.sqrt(second)) / s.correction2) + s.eps);
    delta[i] = fr(s.negStepSize * expAvg[i]) / denom;
  }
}
