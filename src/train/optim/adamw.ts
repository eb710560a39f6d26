import { binaryFlat, hostKernelsFor } from '../../backends/registry.js';
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
  [key: string]: number | boolean | null | Float32Array;
  step: number;
  expAvg: Float32Array;
  expAvgSq: Float32Array;
  maxExpAvgSq: Float32Array | null;
}

export function initAdamState(size: number, amsgrad: boolean): AdamState {
  return {
    step: 0,
    expAvg: new Float32Array(size),
    expAvgSq: new Float32Array(size),
    maxExpAvgSq: amsgrad ? new Float32Array(size) : null,
  };
}

/**
 * Advance Adam's moments by one gradient and write the update to add to the parameter,
 * -lr·m̂/(√v̂ + eps), into `delta`, rounding each op to f32 as torch's single-tensor path does.
 */
export function adamDelta(grad: Float32Array, state: AdamState, hyper: AdamHyper, delta: Float32Array): void {
  const [beta1, beta2] = hyper.betas;
  state.step += 1;
  // Bias corrections in f64, as torch computes them from the Python step count.
  const biasCorrection1 = 1 - beta1 ** state.step;
  const biasCorrection2Sqrt = Math.sqrt(1 - beta2 ** state.step);
  hostKernelsFor('f32').adamDelta(grad, state.expAvg, state.expAvgSq, state.maxExpAvgSq, delta, {
    weight1: fr(1 - beta1),
    decay2: fr(beta2),
    weight2: fr(1 - beta2),
    correction2: fr(biasCorrection2Sqrt),
    eps: fr(hyper.eps),
    negStepSize: fr(-(hyper.lr / biasCorrection1)),
  });
}

/** AdamW's decoupled weight decay, p ← p·(1 − lr·wd), applied before the Adam update. */
export function decoupledDecay(data: Float32Array, lr: number, weightDecay: number): void {
  if (weightDecay === 0) return;
  binaryFlat('mul', data, data, fr(1 - lr * weightDecay));
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
  /** Reused buffer for one parameter's update. */
  private scratch = new Float32Array(0);

  constructor(params: ParamsInput | ParamGroupSpec<AdamHyper>[], options: AdamWOptions = {}) {
    super(params, withDefaults<AdamHyper>(ADAMW_DEFAULTS, options));
  }

  protected override checkHyper(hyper: AdamHyper): void {
    checkAdamHyper(hyper);
  }

  protected override initState(param: Tensor, group: ParamGroup<AdamHyper>): AdamState {
    return initAdamState(param.size, group.amsgrad);
  }

  protected override updateParam(
    data: Float32Array,
    grad: Float32Array,
    state: AdamState,
    group: ParamGroup<AdamHyper>,
  ): void {
    if (this.scratch.length < data.length) this.scratch = new Float32Array(data.length);
    const delta = this.scratch.subarray(0, data.length);
    decoupledDecay(data, group.lr, group.weightDecay);
    adamDelta(grad, state, group, delta);
    binaryFlat('add', data, data, delta);
  }
}
