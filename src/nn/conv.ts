import { rand, zeros } from '../engine/create.js';
import type { FloatDType } from '../engine/dtype.js';
import { ShapeError } from '../engine/errors.js';
import type { Rng } from '../engine/rng.js';
import type { Tensor } from '../engine/tensor.js';
import { type Conv1dOptions, type Conv2dOptions, conv1d, conv2d, pair, type Size2 } from '../ops/conv.js';
import { Module } from './module.js';

interface ConvInit {
  /** Add a learned per-channel bias 'bias' [out] (default true, as torch). */
  bias?: boolean;
  /** Source of the initial weights; the global generator when omitted. */
  rng?: Rng;
  /** false: allocate zeros instead of drawing random weights (they are about to be loaded). */
  init?: boolean;
  /** dtype of the parameters (default f32). */
  dtype?: FloatDType;
}

export interface Conv1dModuleOptions extends Conv1dOptions, ConvInit {}

export interface Conv2dModuleOptions extends Conv2dOptions, ConvInit {}

/**
 * What Conv1d and Conv2d share: 'weight' [out, in/groups, ...kernel] and 'bias' [out] with torch's default
 * initialisation, where kaiming_uniform(a=√5) for the weight and the bias rule both come to U(-1/√fanIn, 1/√fanIn),
 * fanIn = in/groups · kernel size.
 */
export abstract class ConvNd extends Module {
  readonly groups: number;

  protected constructor(
    op: string,
    readonly inChannels: number,
    readonly outChannels: number,
    kernel: readonly number[],
    options: ConvInit & { groups?: number },
  ) {
    super();
    const groups = options.groups ?? 1;
    if (!Number.isInteger(groups) || groups < 1 || inChannels % groups !== 0 || outChannels % groups !== 0) {
      throw new ShapeError(
        `${op}: groups = ${groups} must be a positive integer dividing in channels ${inChannels} and out channels ${outChannels}`,
      );
    }
    this.groups = groups;
    const dtype = options.dtype ?? 'f32';
    const fanIn = (inChannels / groups) * kernel.reduce((a, b) => a * b, 1);
    const bound = 1 / Math.sqrt(fanIn);
    const uniform = (shape: number[]) =>
      options.init === false
        ? zeros(shape, { dtype })
        : rand(shape, { dtype, low: -bound, high: bound, rng: options.rng });
    this.addParam('weight', uniform([outChannels, inChannels / groups, ...kernel]));
    if (options.bias ?? true) this.addParam('bias', uniform([outChannels]));
  }

  get weight(): Tensor {
    return this.p('weight');
  }

  get bias(): Tensor | null {
    return this.hasParam('bias') ? this.p('bias') : null;
  }
}

/** torch.nn.Conv1d: x [N, in, L] (or [in, L]) -> [N, out, Lout]; parameters 'weight' [out, in/groups, K] and 'bias' [out]. */
export class Conv1d extends ConvNd {
  readonly stride: number;
  readonly padding: number;
  readonly dilation: number;

  constructor(
    inChannels: number,
    outChannels: number,
    readonly kernelSize: number,
    options: Conv1dModuleOptions = {},
  ) {
    if (!Number.isInteger(kernelSize) || kernelSize < 1) {
      throw new ShapeError(`Conv1d: kernelSize must be a positive integer, got ${kernelSize}`);
    }
    super('Conv1d', inChannels, outChannels, [kernelSize], options);
    this.stride = options.stride ?? 1;
    this.padding = options.padding ?? 0;
    this.dilation = options.dilation ?? 1;
  }

  forward(x: Tensor): Tensor {
    const { stride, padding, dilation, groups } = this;
    return conv1d(x, this.weight, this.bias, { stride, padding, dilation, groups });
  }
}

/** torch.nn.Conv2d: x [N, in, H, W] (or [in, H, W]) -> [N, out, OH, OW]; parameters 'weight' [out, in/groups, KH, KW] and 'bias' [out]. */
export class Conv2d extends ConvNd {
  readonly kernelSize: [number, number];
  readonly stride: Size2;
  readonly padding: Size2;
  readonly dilation: Size2;

  constructor(inChannels: number, outChannels: number, kernelSize: Size2, options: Conv2dModuleOptions = {}) {
    const kernel = pair(kernelSize, 'kernelSize', 1, 'Conv2d');
    super('Conv2d', inChannels, outChannels, kernel, options);
    this.kernelSize = kernel;
    this.stride = options.stride ?? 1;
    this.padding = options.padding ?? 0;
    this.dilation = options.dilation ?? 1;
  }

  forward(x: Tensor): Tensor {
    const { stride, padding, dilation, groups } = this;
    return conv2d(x, this.weight, this.bias, { stride, padding, dilation, groups });
  }
}
