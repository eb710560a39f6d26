import type { FloatArray } from '../../engine/dtype.js';

/** SGD's per-step scalars, each already rounded to the parameter's precision as torch casts them. */
export interface SgdScalars {
  /** Whether weight decay is on (a nonzero decay that rounds to 0 still adds 0·p, as torch does). */
  decay: boolean;
  weightDecay: number;
  /** 0 when there is no momentum buffer. */
  momentum: number;
  /** 1 − dampening. */
  gradWeight: number;
  /** −lr. */
  negLr: number;
  nesterov: boolean;
  /** The first step, where the momentum buffer starts as a copy of the (decayed) gradient. */
  first: boolean;
}

const same = (x: number): number => x;

/**
 * One SGD update of param in place: weight decay added to the gradient, then momentum (optionally Nesterov) through
 * momentumBuffer (null without momentum). Each op rounds to param's precision as torch's single-tensor path does, whose
 * `add(alpha=)` is a fused multiply-add.
 */
export function sgdUpdateTs(
  param: FloatArray,
  grad: FloatArray,
  momentumBuffer: FloatArray | null,
  s: SgdScalars,
): void {
  const round = param instanceof Float32Array ? Math.fround : same;
  for (let i = 0; i < grad.length; i++) {
    let d = s.decay ? round(param[i] * s.weightDecay + grad[i]) : grad[i];
    if (momentumBuffer) {
      momentumBuffer[i] = s.first ? d : round(round(momentumBuffer[i] * s.momentum) + d * s.gradWeight);
      d = s.nesterov ? round(momentumBuffer[i] * s.momentum + d) : momentumBuffer[i];
    }
    param[i] = d * s.negLr + param[i];
  }
}
