import { kernelsFor } from '../../backends/kernels.js';
import { zeros } from '../../engine/create.js';
import type { Tensor } from '../../engine/tensor.js';
import {
  f32Storage,
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
  [key: string]: number | boolean | null | Tensor;
  /** Updates so far; the momentum buffer starts as a copy of the first gradient. */
  step: number;
  /** Flat f32 [size], updated in place; null without momentum. */
  momentumBuffer: Tensor | null;
}

/**
 * One SGD update of a parameter in place (contiguous f32) from an f32 gradient of as many elements: weight decay added
 * to the gradient, then momentum (optionally Nesterov). Rounds like torch's single-tensor path, whose `add(alpha=)` is
 * a fused multiply-add.
 */
export function sgdUpdate(param: Tensor, grad: Tensor, state: SgdState, hyper: SgdHyper): void {
  const buffer = state.momentumBuffer;
  if (grad.size !== param.size || (buffer && buffer.size !== param.size)) {
    throw new OptimizerError(
      `an SGD update of a parameter of ${param.size} values needs a gradient and buffer as long`,
    );
  }
  const target = f32Storage(param, 'an optimised parameter');
  const momentum = buffer && f32Storage(buffer, 'a momentum buffer');
  const first = state.step === 0;
  state.step += 1;
  kernelsFor('f32').sgdUpdate(target, grad.denseStorage(), momentum, {
    decay: hyper.weightDecay !== 0,
    weightDecay: fr(hyper.weightDecay),
    momentum: fr(hyper.momentum),
    gradWeight: fr(1 - hyper.dampening),
    negLr: fr(-hyper.lr),
    nesterov: hyper.nesterov,
    first,
  });
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
    return { step: 0, momentumBuffer: group.momentum !== 0 ? zeros([param.size]) : null };
  }

  protected override updateParam(param: Tensor, grad: Tensor, state: SgdState, group: ParamGroup<SgdHyper>): void {
    sgdUpdate(param, grad, state, group);
  }
}
