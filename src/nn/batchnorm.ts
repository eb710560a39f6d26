import { noGrad } from '../engine/autograd.js';
import { ones, scalar, zeros } from '../engine/create.js';
import type { FloatDType } from '../engine/dtype.js';
import { ShapeError } from '../engine/errors.js';
import type { Tensor } from '../engine/tensor.js';
import { assign_ } from '../ops/assign.js';
import { add, mul, rsqrt, sub } from '../ops/elementwise.js';
import { mean } from '../ops/reduce.js';
import { reshape } from '../ops/views.js';
import { Module } from './module.js';

export interface BatchNormOptions {
  /** Added to the variance before the square root (default 1e-5). */
  eps?: number;
  /** Weight of the newest batch in the running statistics (default 0.1); null: a cumulative average, as torch. */
  momentum?: number | null;
  /** Learn a per-channel scale 'weight' and shift 'bias' (default true). */
  affine?: boolean;
  /** Keep 'running_mean', 'running_var' and 'num_batches_tracked' for evaluation (default true); else always batch statistics. */
  trackRunningStats?: boolean;
  /** dtype of the parameters and running statistics (default f32). */
  dtype?: FloatDType;
}

/**
 * Batch normalisation over axis 1 of [N, C, ...], as torch's _BatchNorm. Training normalises with the batch's
 * biased variance and moves the running statistics towards the batch's mean and unbiased variance; evaluation uses
 * the running statistics. Buffer names are torch's, so a state dict maps 1:1.
 */
export abstract class BatchNorm extends Module {
  readonly eps: number;
  readonly momentum: number | null;

  protected constructor(
    private readonly op: string,
    /** The input ranks this variant accepts, e.g. [2, 3] for BatchNorm1d. */
    private readonly ranks: readonly number[],
    readonly numFeatures: number,
    options: BatchNormOptions,
  ) {
    super();
    if (!Number.isInteger(numFeatures) || numFeatures < 1) {
      throw new ShapeError(`${op}: numFeatures must be a positive integer, got ${numFeatures}`);
    }
    this.eps = options.eps ?? 1e-5;
    this.momentum = options.momentum === undefined ? 0.1 : options.momentum;
    const dtype = options.dtype ?? 'f32';
    if (options.affine ?? true) {
      this.addParam('weight', ones([numFeatures], { dtype }));
      this.addParam('bias', zeros([numFeatures], { dtype }));
    }
    if (options.trackRunningStats ?? true) {
      this.addBuffer('running_mean', zeros([numFeatures], { dtype }));
      this.addBuffer('running_var', ones([numFeatures], { dtype }));
      // torch keeps an int64 scalar; lithe's integers are i32 (safetensors I64 loads as i32).
      this.addBuffer('num_batches_tracked', zeros([], { dtype: 'i32' }));
    }
  }

  get weight(): Tensor | null {
    return this.hasParam('weight') ? this.p('weight') : null;
  }

  get bias(): Tensor | null {
    return this.hasParam('bias') ? this.p('bias') : null;
  }

  get runningMean(): Tensor | null {
    return this.buffer('running_mean');
  }

  get runningVar(): Tensor | null {
    return this.buffer('running_var');
  }

  get numBatchesTracked(): Tensor | null {
    return this.buffer('num_batches_tracked');
  }

  // x: [N, C, ...] -> [N, C, ...]
  forward(x: Tensor): Tensor {
    if (!this.ranks.includes(x.rank) || x.shape[1] !== this.numFeatures) {
      throw new ShapeError(
        `${this.op} expects a rank ${this.ranks.join(' or ')} input [N, ${this.numFeatures}, ...], got [${x.shape}]`,
      );
    }
    // Per-channel vectors broadcast over [N, C, ...] as [1, C, 1, ...].
    const channelShape = x.shape.map((d, i) => (i === 1 ? d : 1));
    const asChannels = (v: Tensor) => reshape(v, channelShape);
    const runningMean = this.runningMean;
    const runningVar = this.runningVar;
    let normalised: Tensor;
    if (this.training || !runningMean || !runningVar) {
      const axes = x.shape.map((_, i) => i).filter((i) => i !== 1);
      const count = x.size / this.numFeatures;
      if (this.training && count <= 1) {
        throw new ShapeError(`${this.op}: training needs more than 1 value per channel, got input [${x.shape}]`);
      }
      const batchMean = mean(x, { axis: axes, keepdim: true });
      const centered = sub(x, batchMean);
      const batchVar = mean(mul(centered, centered), { axis: axes, keepdim: true });
      normalised = mul(centered, rsqrt(add(batchVar, this.eps)));
      if (this.training && runningMean && runningVar) this.updateRunningStats(batchMean, batchVar, count);
    } else {
      normalised = mul(sub(x, asChannels(runningMean)), rsqrt(add(asChannels(runningVar), this.eps)));
    }
    const { weight, bias } = this;
    if (weight) normalised = mul(normalised, asChannels(weight));
    if (bias) normalised = add(normalised, asChannels(bias));
    return normalised;
  }

  /** Move the running statistics towards this batch's mean and unbiased variance, off the tape. */
  private updateRunningStats(batchMean: Tensor, batchVar: Tensor, count: number): void {
    noGrad(() => {
      const tracked = this.numBatchesTracked as Tensor;
      const batches = tracked.item() + 1;
      assign_(tracked, scalar(batches, { dtype: 'i32' }));
      const factor = this.momentum ?? 1 / batches;
      const runningMean = this.runningMean as Tensor;
      const runningVar = this.runningVar as Tensor;
      const c = [this.numFeatures];
      assign_(runningMean, add(mul(runningMean, 1 - factor), mul(reshape(batchMean, c), factor)));
      const unbiased = mul(reshape(batchVar, c), count / (count - 1));
      assign_(runningVar, add(mul(runningVar, 1 - factor), mul(unbiased, factor)));
    });
  }
}

/** torch.nn.BatchNorm1d: x [N, C] or [N, C, L]. */
export class BatchNorm1d extends BatchNorm {
  constructor(numFeatures: number, options: BatchNormOptions = {}) {
    super('BatchNorm1d', [2, 3], numFeatures, options);
  }
}

/** torch.nn.BatchNorm2d: x [N, C, H, W]. */
export class BatchNorm2d extends BatchNorm {
  constructor(numFeatures: number, options: BatchNormOptions = {}) {
    super('BatchNorm2d', [4], numFeatures, options);
  }
}
