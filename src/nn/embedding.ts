import { randn, zeros } from '../engine/create.js';
import type { Rng } from '../engine/rng.js';
import type { Tensor } from '../engine/tensor.js';
import { embedding } from '../ops/indexing.js';
import { Module } from './module.js';

/** A lookup table [num, dim]; forward maps i32 ids [...] to [..., dim]. */
export class Embedding extends Module {
  constructor(
    readonly num: number,
    readonly dim: number,
    options: { initStd?: number; rng?: Rng; init?: boolean } = {},
  ) {
    super();
    this.addParam(
      'weight',
      options.init === false
        ? zeros([num, dim])
        : randn([num, dim], { std: options.initStd ?? 0.02, rng: options.rng }),
    );
  }

  get weight(): Tensor {
    return this.p('weight');
  }

  forward(ids: Tensor): Tensor {
    return embedding(this.weight, ids);
  }
}
