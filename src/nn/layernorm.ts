import { ones, zeros } from '../engine/create.js';
import type { FloatDType } from '../engine/dtype.js';
import { ShapeError } from '../engine/errors.js';
import { numel } from '../engine/shape.js';
import type { Tensor } from '../engine/tensor.js';
import { layerNorm } from '../ops/norm.js';
import { reshape } from '../ops/views.js';
import { Module } from './module.js';

export interface LayerNormModuleOptions {
  /** Added to the variance before the square root (default 1e-5). */
  eps?: number;
  /** Learn 'weight' (and 'bias', unless `bias` is false) of the normalised shape (default true). */
  elementwiseAffine?: boolean;
  /** With elementwiseAffine, also learn 'bias' (default true). */
  bias?: boolean;
  /** dtype of the parameters (default f32). */
  dtype?: FloatDType;
}

/** torch.nn.LayerNorm: normalise over the trailing axes `normalizedShape` with the biased variance. */
export class LayerNorm extends Module {
  readonly normalizedShape: readonly number[];
  readonly eps: number;

  constructor(normalizedShape: number | readonly number[], options: LayerNormModuleOptions = {}) {
    super();
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    if (this.normalizedShape.length === 0 || this.normalizedShape.some((d) => !Number.isInteger(d) || d < 1)) {
      throw new ShapeError(`LayerNorm: normalizedShape must be positive integers, got [${this.normalizedShape}]`);
    }
    this.eps = options.eps ?? 1e-5;
    const dtype = options.dtype ?? 'f32';
    if (options.elementwiseAffine ?? true) {
      this.addParam('weight', ones(this.normalizedShape, { dtype }));
      if (options.bias ?? true) this.addParam('bias', zeros(this.normalizedShape, { dtype }));
    }
  }

  get weight(): Tensor | null {
    return this.hasParam('weight') ? this.p('weight') : null;
  }

  get bias(): Tensor | null {
    return this.hasParam('bias') ? this.p('bias') : null;
  }

  // x: [..., *normalizedShape] -> same shape
  forward(x: Tensor): Tensor {
    const k = this.normalizedShape.length;
    const tail = x.shape.slice(x.rank - k);
    if (x.rank < k || tail.some((d, i) => d !== this.normalizedShape[i])) {
      throw new ShapeError(`LayerNorm over [${this.normalizedShape}] does not fit input [${x.shape}]`);
    }
    // The op normalises the last axis, so the normalised axes become one of D = their product.
    const d = numel(this.normalizedShape);
    const flat = (t: Tensor | null) => (t ? reshape(t, [d]) : null);
    const y = layerNorm(reshape(x, [...x.shape.slice(0, x.rank - k), d]), flat(this.weight), flat(this.bias), {
      eps: this.eps,
    });
    return reshape(y, x.shape);
  }
}
