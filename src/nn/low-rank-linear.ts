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
  readonly u: Linear;
  readonly v: Linear;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    readonly rank: number,
    options: LowRankLinearOptions = {},
  ) {
    super();
    const { bias, ...init } = options;
    this.v = this.addChild('V', new Linear(inFeatures, rank, init));
    this.u = this.addChild('U', new Linear(rank, outFeatures, { ...init, bias }));
  }

  get bias(): Tensor | null {
    return this.u.bias;
  }

  // x: [..., in] -> [..., out]
  forward(x: Tensor): Tensor {
    return this.u.forward(this.v.forward(x));
  }
}

/** What a model's projection may be: a dense Linear, a factorised one, or one whose weight is quantised. */
export type LinearLayer = Linear | LowRankLinear | QuantLinear;
