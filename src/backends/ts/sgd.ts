import type { FloatArray } from '../../engine/dtype.js';

const fr = Math.fround;

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
  if (param instanceof Float32Array) sgdF32(param, grad, momentumBuffer, s);
  else sgdF64(param, grad, momentumBuffer, s);
}

// The two precisions as separate loops: a rounding function chosen at run time would cost a call per op.
function sgdF32(param: Float32Array, grad: FloatArray, buffer: FloatArray | null, s: SgdScalars): void {
  const { decay, weightDecay, momentum, gradWeight, negLr, nesterov, first } = s;
  for (let i = 0; i < grad.length; i++) {
    let d = decay ? fr(param[i] * weightDecay + grad[i]) : grad[i];
    if (buffer) {
      buffer[i] = first ? d : fr(fr(buffer[i] * momentum) + d * gradWeight);
      d = nesterov ? fr(buffer[i] * momentum + d) : buffer[i];
    }
    param[i] = d * negLr + param[i];
  }
}

function sgdF64(param: Float64Array, grad: FloatArray, buffer: FloatArray | null, s: SgdScalars): void {
  const { decay, weightDecay, momentum, gradWeight, negLr, nesterov, first } = s;
  for (let i = 0; i < grad.length; i++) {
    let d = decay ? param[i] * weightDecay + grad[i] : grad[i];
    if (buffer) {
      buffer[i] = first ? d : buffer[i] * momentum + d * gradWeight;
      d = nesterov ? buffer[i] * momentum + d : buffer[i];
    }
    param[i] = d * negLr + param[i];
  }
}
