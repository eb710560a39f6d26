import type { Tensor } from '../../engine/tensor.js';
import {
  type GroupHyper,
  Optimizer,
  OptimizerError,
  type ParamGroup,
  type ParamGroupSpec,
  type ParamsInput,
  withDefaults,
} from './optimizer.js';

const fr = Math.fround;

export interface SgdHyper extends GroupHyper {
  momentum: number;
  dampening: number;
  nesterov: boolean;
}

export type SgdOptions = Partial<SgdHyper>;

/** torch.optim.SGD's defaults, except that lr has one (torch requires it). */
export const SGD_DEFAULTS: Readonly<SgdHyper> = Object.freeze({
  lr: 1e-3,
  momentum: 0,
  dampening: 0,
  weightDecay: 0,
  nesterov: false,
});

export interface SgdState {
  [key: string]: number | boolean | null | Float32Array;
  /** Updates so far; the momentum buffer starts as a copy of the first gradient. */
  step: number;
  momentumBuffer: Float32Array | null;
}

/**
 * One SGD update of a parameter in place: weight decay added to the gradient, then momentum
 * (optionally Nesterov). Rounds like torch's single-tensor path, whose `add(alpha=)` is a fused multiply-add.
 */
export function sgdUpdate(data: Float32Array, grad: Float32Array, state: SgdState, hyper: SgdHyper): void {
  const weightDecay = fr(hyper.weightDecay);
  const momentum = fr(hyper.momentum);
  const gradWeight = fr(1 - hyper.dampening);
  const negLr = fr(-hyper.lr);
  const buffer = state.momentumBuffer;
  const first = state.step === 0;
  state.step += 1;
  for (let i = 0; i < data.length; i++) {
    let d = hyper.weightDecay !== 0 ? fr(data[i] * weightDecay + grad[i]) : grad[i];
    if (buffer) {
      buffer[i] = first ? d : fr(fr(buffer[i] * momentum) + d * gradWeight);
      d = hyper.nesterov ? fr(buffer[i] * momentum + d) : buffer[i];
    }
    data[i] = d * negLr + data[i];
  }
}

/** torch.optim.SGD (foreach=False, maximize=False), matching it to f32 rounding. */
export class SGD extends Optimizer<SgdHyper, SgdState> {
  constructor(params: ParamsInput | ParamGroupSpec<SgdHyper>[], options: SgdOptions = {}) {
    super(params, withDefaults<SgdHyper>(SGD_DEFAULTS, options));
  }

  protected override checkHyper(hyper: SgdHyper): void {
    if (!(hyper.lr >= 0)) throw new OptimizerError(`invalid learning rate ${hyper.lr}`);
    if (!(hyper.momentum >= 0)) throw new OptimizerError(`invalid momentum ${hyper.momentum}`);
    if (!(hyper.weightDecay >= 0)) throw new OptimizerError(`invalid weight decay ${hyper.weightDecay}`);
    if (hyper.nesterov && (hyper.momentum <= 0 || hyper.dampening !== 0)) {
      throw new OptimizerError('Nesterov momentum requires a momentum and zero dampening');
    }
  }

  protected override initState(param: Tensor, group: ParamGroup<SgdHyper>): SgdState {
    return { step: 0, momentumBuffer: group.momentum !== 0 ? new Float32Array(param.size) : null };
  }

  protected override updateParam(
    data: Float32Array,
    grad: Float32Array,
    state: SgdState,
    group: ParamGroup<SgdHyper>,
  ): void {
    sgdUpdate(data, grad, state, group);
  }
}
