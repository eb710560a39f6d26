import { allocate, kernelsFor, type StorageHandle } from '../../backends/kernels.js';
import { zeros } from '../../engine/create.js';
import { Tensor } from '../../engine/tensor.js';
import {
  f32Storage,
  type GroupHyper,
  Optimizer,
  OptimizerError,
  type ParamGroup,
  type ParamGroupSpec,
  type ParamsInput,
  updateInPlace,
  withDefaults,
} from './optimizer.js';

const fr = Math.fround;

export interface AdamHyper extends GroupHyper {
  betas: [number, number];
  eps: number;
  amsgrad: boolean;
}

export type AdamWOptions = Partial<AdamHyper>;

/** torch.optim.AdamW's defaults. */
export const ADAMW_DEFAULTS: Readonly<AdamHyper> = Object.freeze({
  lr: 1e-3,
  betas: [0.9, 0.999] as [number, number],
  eps: 1e-8,
  weightDecay: 0.01,
  amsgrad: false,
});

/** Adam's per-parameter state; the moments may be smaller than the parameter (GaLore keeps them projected). */
export interface AdamState {
  [key: string]: number | boolean | null | Tensor;
  step: number;
  /** Flat f32 [size] moments, updated in place. */
  expAvg: Tensor;
  expAvgSq: Tensor;
  maxExpAvgSq: Tensor | null;
}

export function initAdamState(size: number, amsgrad: boolean): AdamState {
  return {
    step: 0,
    expAvg: zeros([size]),
    expAvgSq: zeros([size]),
    maxExpAvgSq: amsgrad ? zeros([size]) : null,
  };
}

/**
 * Advance Adam's moments by one gradient (f32, as many elements as the moments) and write the update to add to the
 * parameter, -lr·m̂/(√v̂ + eps), into `delta` (a contiguous f32 tensor of that size), rounding each op to f32 as torch's
 * single-tensor path does.
 */
export function adamDelta(grad: Tensor, state: AdamState, hyper: AdamHyper, delta: Tensor): void {
  const n = state.expAvg.size;
  if (grad.size !== n || delta.size !== n) {
    throw new OptimizerError(`Adam moments of ${n} values, a gradient of ${grad.size} and an update of ${delta.size}`);
  }
  if (grad.dtype !== 'f32') throw new OptimizerError(`Adam needs an f32 gradient, got ${grad.dtype}`);
  const [beta1, beta2] = hyper.betas;
  state.step += 1;
  // Bias corrections in f64, as torch computes them from the Python step count.
  const biasCorrection1 = 1 - beta1 ** state.step;
  const biasCorrection2Sqrt = Math.sqrt(1 - beta2 ** state.step);
  kernelsFor('f32').adamDelta(
    grad.denseStorage(),
    f32Storage(state.expAvg, 'an Adam moment'),
    f32Storage(state.expAvgSq, 'an Adam moment'),
    state.maxExpAvgSq && f32Storage(state.maxExpAvgSq, 'an Adam moment'),
    f32Storage(delta, 'an Adam update'),
    {
      weight1: fr(1 - beta1),
      decay2: fr(beta2),
      weight2: fr(1 - beta2),
      correction2: fr(biasCorrection2Sqrt),
      eps: fr(hyper.eps),
      negStepSize: fr(-(hyper.lr / biasCorrection1)),
    },
  );
}

/** AdamW's decoupled weight decay of a parameter in place, p ← p·(1 − lr·wd), applied before the Adam update. */
export function decoupledDecay(param: Tensor, lr: number, weightDecay: number): void {
  if (weightDecay === 0) return;
  updateInPlace(param, 'mul', fr(1 - lr * weightDecay));
}

export function checkAdamHyper(hyper: AdamHyper): void {
  const [beta1, beta2] = hyper.betas;
  if (!(hyper.lr >= 0)) throw new OptimizerError(`invalid learning rate ${hyper.lr}`);
  if (!(hyper.eps >= 0)) throw new OptimizerError(`invalid eps ${hyper.eps}`);
  if (!(beta1 >= 0 && beta1 < 1)) throw new OptimizerError(`invalid beta1 ${beta1}`);
  if (!(beta2 >= 0 && beta2 < 1)) throw new OptimizerError(`invalid beta2 ${beta2}`);
  if (!(hyper.weightDecay >= 0)) throw new OptimizerError(`invalid weight decay ${hyper.weightDecay}`);
}

/** torch.optim.AdamW (foreach=False, maximize=False), matching it to f32 rounding. */
export class AdamW extends Optimizer<AdamHyper, AdamState> {
  /** Reused storage for one parameter's update (as long as the largest parameter so far). */
  private scratch: StorageHandle = allocate('f32', 0);

  constructor(params: ParamsInput | ParamGroupSpec<AdamHyper>[], options: AdamWOptions = {}) {
    super(params, withDefaults<AdamHyper>(ADAMW_DEFAULTS, options));
  }

  protected override checkHyper(hyper: AdamHyper): void {
    checkAdamHyper(hyper);
  }

  protected override initState(param: Tensor, group: ParamGroup<AdamHyper>): AdamState {
    return initAdamState(param.size, group.amsgrad);
  }

  protected override updateParam(param: Tensor, grad: Tensor, state: AdamState, group: ParamGroup<AdamHyper>): void {
    if (this.scratch.length < param.size) this.scratch = allocate('f32', param.size);
    const delta = new Tensor(this.scratch, [param.size], 'f32');
    decoupledDecay(param, group.lr, group.weightDecay);
    adamDelta(grad, state, group, delta);
    updateInPlace(param, 'add', delta);
  }
}
