import { gradientSink } from '../engine/create.js';
import { ShapeError } from '../engine/errors.js';
import type { QuantFormat } from '../engine/quant/formats.js';
import { dequantize, type QuantizedTensor, quantize, quantizedParts } from '../engine/quant/quantized-tensor.js';
import type { Tensor } from '../engine/tensor.js';
import { quantLinear } from '../ops/quant-matmul.js';
import { Linear } from './linear.js';
import { Module } from './module.js';

/** The quantised weight each QuantLinear's gradient sink stands for: how an optimiser finds the codes it updates. */
const sinkWeights = new WeakMap<Tensor, QuantizedTensor>();

/** The quantised weight a parameter stands for (a QuantLinear's `weightGrad` sink), or null for an ordinary one. */
export function quantizedWeightOf(param: Tensor): QuantizedTensor | null {
  return sinkWeights.get(param) ?? null;
}

/** The state names of a QuantLinear's weight: codes, scales and zero points (the weight itself is not stored). */
export const QUANT_WEIGHT_BUFFERS = ['weight_codes', 'weight_scales', 'weight_zeros'] as const;

/**
 * y = x·Ŵᵀ + b with the weight held only as integer codes (a QuantizedTensor [out, in], e.g. int8 in groups of 256),
 * for training with quantised weights (Q-GaLore): the forward and backward run the quantised GEMM, and the weight's
 * f32 gradient lands in `weightGrad.grad`, a gradientSink the optimiser takes as the parameter (it finds the codes
 * with quantizedWeightOf). The codes, scales and zero points are its buffers (exact state, for resuming); a
 * checkpoint stores the dequantised `weight`, so the saved model is an ordinary one.
 */
export class QuantLinear extends Module {
  readonly weight: QuantizedTensor;
  /** Stands for the weight on the tape; never read its values, only its `.grad`. */
  readonly weightGrad: Tensor;

  constructor(weight: QuantizedTensor, bias: Tensor | null = null) {
    super();
    this.weight = weight;
    this.weightGrad = gradientSink([weight.rows, weight.cols]);
    sinkWeights.set(this.weightGrad, weight);
    // Views of the QuantizedTensor's own arrays: loading a buffer writes the codes the GEMM reads.
    const parts = quantizedParts(weight);
    this.addBuffer(QUANT_WEIGHT_BUFFERS[0], parts.codes);
    this.addBuffer(QUANT_WEIGHT_BUFFERS[1], parts.scales);
    if (parts.zeros) this.addBuffer(QUANT_WEIGHT_BUFFERS[2], parts.zeros);
    if (bias) this.addParam('bias', bias);
  }

  get inFeatures(): number {
    return this.weight.cols;
  }

  get outFeatures(): number {
    return this.weight.rows;
  }

  get bias(): Tensor | null {
    return this.hasParam('bias') ? this.p('bias') : null;
  }

  /** Drops the weight's gradient too (the sink is not a parameter, so Module's zeroGrad alone would miss it). */
  override zeroGrad(): void {
    super.zeroGrad();
    this.weightGrad.grad = null;
  }

  /** The weight as a checkpoint stores it: dequantised to f32, beside the bias; the codes are not stored. */
  protected override ownCheckpointState(): { params: Map<string, Tensor>; buffers: Map<string, Tensor> } {
    const params = new Map([['weight', dequantize(this.weight)]]);
    if (this.bias) params.set('bias', this.bias);
    return { params, buffers: new Map() };
  }

  // x: [..., in] -> [..., out]
  forward(x: Tensor): Tensor {
    return quantLinear(x, this.weight, this.bias, this.weightGrad);
  }
}

export interface QuantizeLinearsOptions {
  /** Which Linears (by full module name) to quantise. */
  select: (name: string) => boolean;
  format?: QuantFormat;
  /** Elements per group along each row (default 256). */
  groupSize?: number;
}

/**
 * Replace the selected Linears of a model by QuantLinears holding their weights quantised (round to nearest), in
 * place; their biases move over as they are. Returns the names replaced. A masked (pruned) Linear is refused.
 */
export function quantizeLinears(model: Module, options: QuantizeLinearsOptions): string[] {
  const { select, format = 'int8', groupSize } = options;
  const chosen = [...model.namedModules()].filter(
    (entry): entry is [string, Linear] => entry[1] instanceof Linear && select(entry[0]),
  );
  for (const [name, linear] of chosen) {
    if (linear.mask) throw new ShapeError(`${name} is pruned; a quantised Linear keeps no mask`);
    model.replaceModule(name, new QuantLinear(quantize(linear.weight, format, { groupSize }), linear.bias));
  }
  return chosen.map(([name]) => name);
}

/** Replace every QuantLinear of a model by a Linear holding its dequantised weight (and its bias), in place. */
export function dequantizeLinears(model: Module): void {
  for (const [name, m] of model.namedModules()) {
    if (!(m instanceof QuantLinear)) continue;
    const linear = new Linear(m.inFeatures, m.outFeatures, { bias: m.bias !== null, init: false });
    linear.setParameter('weight', dequantize(m.weight));
    if (m.bias) linear.setParameter('bias', m.bias);
    model.replaceModule(name, linear);
  }
}
