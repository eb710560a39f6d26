import { ones } from '../engine/create.js';
import type { Tensor } from '../engine/tensor.js';
import { rmsNorm } from '../ops/norm.js';
import { Module } from './module.js';

/** RMSNorm over the last axis with a learned scale (HF LlamaRMSNorm). */
export class RMSNorm extends Module {
  constructor(
    readonly dim: number,
    readonly eps = 1e-6,
  ) {
    super();
    this.addParam('weight', ones([dim]));
  }

  forward(x: Tensor): Tensor {
    return rmsNorm(x, this.p('weight'), { eps: this.eps });
  }
}
