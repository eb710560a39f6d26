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

/** The buffer name of a Linear's weight mask (beside 'weight', as torch.nn.utils.prune's weight_mask). */
export const MASK_BUFFER = 'weight_mask';

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

  /** The bool [out, in] mask the weight keeps (true = kept), or null when the weight is dense. */
  get mask(): Tensor | null {
    return this.buffer(MASK_BUFFER);
  }

  /**
   * Keep only the weights where `mask` is true: the others are zeroed now and after every optimiser step, so
   * training cannot regrow them. Not saved as a tensor: a checkpoint's sparsity record rebuilds it. null removes it.
   */
  setMask(mask: Tensor | null): void {
    this.maskParam('weight', mask);
    if (mask === null) this.removeBuffer(MASK_BUFFER);
    else this.addBuffer(MASK_BUFFER, mask, { persistent: false });
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}
