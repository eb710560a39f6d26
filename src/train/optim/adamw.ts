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

/** The two per-step scalars where Adam's forms differ: √(1 − β2ᵗ) dividing √v, and the signed step size. */
interface AdamCorrection {
  correction2: number;
  negStepSize: number;
}

/**
 * Advance Adam's moments by one gradient (f32, as many elements as the moments) and write
 * negStepSize·m/(√v/correction2 + eps) into `out` (a contiguous f32 tensor of that size), rounding each op to f32 as
 * torch's single-tensor path does. `correction` gets the bias corrections 1 − β1ᵗ and √(1 − β2ᵗ) of the new step.
 */
function advanceAdam(
  grad: Tensor,
  state: AdamState,
  hyper: AdamHyper,
  out: Tensor,
  correction: (biasCorrection1: number, biasCorrection2Sqrt: number) => AdamCorrection,
): void {
  const n = state.expAvg.size;
  if (grad.size !== n || out.size !== n) {
    throw new OptimizerError(`Adam moments of ${n} values, a gradient of ${grad.size} and an update of ${out.size}`);
  }
  if (grad.dtype !== 'f32') throw new OptimizerError(`Adam needs an f32 gradient, got ${grad.dtype}`);
  const [beta1, beta2] = hyper.betas;
  state.step += 1;
  // Bias corrections in f64, as torch computes them from the Python step count.
  const { correction2, negStepSize } = correction(1 - beta1 ** state.step, Math.sqrt(1 - beta2 ** state.step));
  kernelsFor('f32').adamDelta(
    grad.denseStorage(),
    f32Storage(state.expAvg, 'an Adam moment'),
    f32Storage(state.expAvgSq, 'an Adam moment'),
    state.maxExpAvgSq && f32Storage(state.maxExpAvgSq, 'an Adam moment'),
    f32Storage(out, 'an Adam update'),
    {
      weight1: fr(1 - beta1),
      decay2: fr(beta2),
      weight2: fr(1 - beta2),
      correction2: fr(correction2),
      eps: fr(hyper.eps),
      negStepSize: fr(negStepSize),
    },
  );
}

/**
 * torch's AdamW form: advance the moments by one gradient and write the update to add to the parameter,
 * -lr·m̂/(√v̂ + eps) with m̂ = m/(1 − β1ᵗ) and v̂ = v/(1 − β2ᵗ), into `delta` (a contiguous f32 tensor as long as the
 * moments).
 */
export function adamDelta(grad: Tensor, state: AdamState, hyper: AdamHyper, delta: Tensor): void {
  advanceAdam(grad, state, hyper, delta, (biasCorrection1, biasCorrection2Sqrt) => ({
    correction2: biasCorrection2Sqrt,
    negStepSize: -(hyper.lr / biasCorrection1),
  }));
}

/**
 * The Adam form of transformers' (and galore-torch's) AdamW, with the bias corrections folded into the step size:
 * advance the moments and write the direction m/(√v + eps) into `direction`; returns the step size
 * lr·√(1 − β2ᵗ)/(1 − β1ᵗ) to scale it by. It differs from adamDelta only in where eps sits.
 */
export function adamDirection(grad: Tensor, state: AdamState, hyper: AdamHyper, direction: Tensor): number {
  let stepSize = 0;
  advanceAdam(grad, state, hyper, direction, (biasCorrection1, biasCorrection2Sqrt) => {
    stepSize = (hyper.lr * biasCorrection2Sqrt) / biasCorrection1;
    return { correction2: 1, negStepSize: 1 };
  });
  return stepSize;
}

/** Decoupled weight decay of a parameter in place, p ← p·(1 − lr·wd): AdamW's before the update, GaLore's after. */
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

/** One torch AdamW update of a parameter in place: decoupled decay, then the Adam update computed into `delta`. */
export function adamWUpdate(param: Tensor, grad: Tensor, state: AdamState, hyper: AdamHyper, delta: Tensor): void {
  decoupledDecay(param, hyper.lr, hyper.weightDecay);
  adamDelta(grad, state, hyper, delta);
  updateInPlace(param, 'add', delta);
}

/** Reused f32 storage for per-parameter temporaries, grown to the largest size asked for. */
export class Scratch {
  private buffer: StorageHandle = allocate('f32', 0);

  /** A contiguous f32 tensor of `size` values over the shared storage; valid until the next call. */
  tensor(size: number): Tensor {
    if (this.buffer.length < size) this.buffer = allocate('f32', size);
    return new Tensor(this.buffer, [size], 'f32');
  }
}

/** torch.optim.AdamW (foreach=False, maximize=False), matching it to f32 rounding. */
export class AdamW extends Optimizer<AdamHyper, AdamState> {
  /** One parameter's update, reused (as long as the largest parameter so far). */
  private readonly scratch = new Scratch();

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
    adamWUpdate(param, grad, state, group, this.scratch.tensor(param.size));
  }
}
