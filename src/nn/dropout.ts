import { ShapeError } from '../engine/errors.js';
import type { Rng } from '../engine/rng.js';
import type { Tensor } from '../engine/tensor.js';
import { dropout } from '../ops/dropout.js';
import { Module } from './module.js';

export interface DropoutModuleOptions {
  /** Source of the masks; the global generator when omitted. */
  rng?: Rng;
}

/** torch.nn.Dropout: inverted dropout with probability p while training, the identity in evaluation. */
export class Dropout extends Module {
  private readonly rng: Rng | undefined;

  constructor(
    /** Probability of zeroing each element (torch's `p`). */
    readonly probability = 0.5,
    options: DropoutModuleOptions = {},
  ) {
    super();
    if (!(probability >= 0 && probability < 1)) {
      throw new ShapeError(`Dropout probability must be in [0, 1), got ${probability}`);
    }
    this.rng = options.rng;
  }

  forward(x: Tensor): Tensor {
    return dropout(x, { p: this.probability, training: this.training, rng: this.rng });
  }
}
