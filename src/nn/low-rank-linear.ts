import { ShapeError } from '../engine/errors.js';
import type { Rng } from '../engine/rng.js';
import type { Tensor } from '../engine/tensor.js';
import { Linear } from './linear.js';
import { Module } from './module.js';
import type { QuantLinear } from './quant-linear.js';

export interface LowRankLinearOptions {
  bias?: boolean;
  /** Std of the normal initialisation of both factors. */
  initStd?: number;
  rng?: Rng;
  /** false: allocate zeros (the factors are about to be loaded or set). */
  init?: boolean;
}

/**
 * A Linear factorised as y = U(V(x)) with V: [rank, in] and U: [out, rank] (U carries the bias): rank·(in + out)
 * parameters instead of in·out. Children 'U' and 'V' are Linears, so the state names are `U.weight`, `V.weight` and
 * `U.bias`, and everything that trains or saves a Linear handles the factors.
 */
export class LowRankLinear extends Module {
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    readonly rank: number,
    options: LowRankLinearOptions = {},
  ) {
    super();
    const { bias, ...init } = options;
    this.addChild('V', new Linear(inFeatures, rank, init));
    this.addChild('U', new Linear(rank, outFeatures, { ...init, bias }));
  }

  /** The dense factors (a ShapeError once one was replaced, e.g. quantised for Q-GaLore: merging needs them dense). */
  get u(): Linear {
    return this.denseFactor('U');
  }

  get v(): Linear {
    return this.denseFactor('V');
  }

  private denseFactor(name: 'U' | 'V'): Linear {
    const factor = this.child<Module>(name);
    if (!(factor instanceof Linear)) throw new ShapeError(`factor ${name} is no longer a dense Linear`);
    return factor;
  }

  get bias(): Tensor | null {
    return this.child<LinearLayer>('U').bias;
  }

  // x: [..., in] -> [..., out]; the factors are read through child(), so a replaced one is the one that runs.
  forward(x: Tensor): Tensor {
    return this.child<LinearLayer>('U').forward(this.child<LinearLayer>('V').forward(x));
  }
}

/** What a model's projection may be: a dense Linear, a factorised one, or one whose weight is quantised. */
export type LinearLayer = Linear | LowRankLinear | QuantLinear;
