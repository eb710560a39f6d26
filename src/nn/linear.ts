import { randn, zeros } from '../engine/create.js';
import type { Rng } from '../engine/rng.js';
import type { Tensor } from '../engine/tensor.js';
import { linear } from '../ops/matmul.js';
import { Module } from './module.js';

export interface LinearOptions {
  bias?: boolean;
  /** Std of the normal initialisation (HF initializer_range). */
  initStd?: number;
  rng?: Rng;
  /** false: allocate zeros instead of drawing random weights (they are about to be loaded). */
  init?: boolean;
}

/** y = x Wᵀ + b with W: [out, in], as torch.nn.Linear; parameters 'weight' and 'bias'. */
export class Linear extends Module {
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: LinearOptions = {},
  ) {
    super();
    const shape = [outFeatures, inFeatures];
    this.addParam(
      'weight',
      options.init === false ? zeros(shape) : randn(shape, { std: options.initStd ?? 0.02, rng: options.rng }),
    );
    if (options.bias) this.addParam('bias', zeros([outFeatures]));
  }

  get weight(): Tensor {
    return this.p('weight');
  }

  get bias(): Tensor | null {
    return this.hasParam('bias') ? this.p('bias') : null;
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}
