import type { Tensor } from '../engine/tensor.js';
import { hostArray } from './storage.js';
import type { adamDeltaTs } from './ts/adam.js';
import type { attentionBackwardTs, attentionForwardTs } from './ts/attention.js';
import type {
  conv2dBackwardTs,
  conv2dForwardTs,
  maxPool2dBackwardTs,
  maxPool2dTs,
  meanPoolBackwardTs,
  meanPoolTs,
} from './ts/conv.js';
import type { copyStrided, writeStridedTs } from './ts/copy.js';
import type { binaryTs, StridedOperand, unaryGradTs, unaryTs, whereTs } from './ts/elementwise.js';
import type { GemmKernel } from './ts/gemm.js';
import type { concatTs, gatherTs, indexAddTs, indexSelectTs, scatterAddTs, sortTs, topkTs } from './ts/indexing.js';
import type { layerNormBackwardTs, layerNormForwardTs, rmsNormBackwardTs, rmsNormForwardTs } from './ts/norm.js';
import type { QuantGemmKernel } from './ts/quant.js';
import type { reduceTs } from './ts/reduce.js';
import type { ropeTs } from './ts/rope.js';
import type {
  crossEntropyBackwardTs,
  crossEntropyForwardTs,
  softmaxBackwardTs,
  softmaxBandsTs,
  softmaxForwardTs,
} from './ts/softmax.js';

/**
 * Every kernel, by name: what ops call through `kernelsFor(dtype)`. Each entry takes flat host arrays plus sizes and
 * strides; the TypeScript implementation (backends/ts) is the reference that every other backend must agree with.
 * Adding a kernel: add its signature here, its TypeScript entry in backends/ts/table.ts (and a native one in
 * backends/native/table.ts if it has one), and its rows in test/backends/cases.ts.
 */
export interface Kernels {
  gemm: GemmKernel;
  unary: typeof unaryTs;
  unaryGrad: typeof unaryGradTs;
  binary: typeof binaryTs;
  where: typeof whereTs;
  softmax: typeof softmaxForwardTs;
  softmaxBands: typeof softmaxBandsTs;
  softmaxBackward: typeof softmaxBackwardTs;
  rmsNormForward: typeof rmsNormForwardTs;
  rmsNormBackward: typeof rmsNormBackwardTs;
  layerNormForward: typeof layerNormForwardTs;
  layerNormBackward: typeof layerNormBackwardTs;
  rope: typeof ropeTs;
  copyStrided: typeof copyStrided;
  writeStrided: typeof writeStridedTs;
  adamDelta: typeof adamDeltaTs;
  crossEntropyForward: typeof crossEntropyForwardTs;
  crossEntropyBackward: typeof crossEntropyBackwardTs;
  reduce: typeof reduceTs;
  indexSelect: typeof indexSelectTs;
  indexAdd: typeof indexAddTs;
  gather: typeof gatherTs;
  scatterAdd: typeof scatterAddTs;
  concat: typeof concatTs;
  sort: typeof sortTs;
  topk: typeof topkTs;
  /** Convolution as one entry (im2col + batched GEMM on the host backends); see backends/ts/conv.ts for the layout. */
  conv2dForward: (...args: DropLast<Parameters<typeof conv2dForwardTs>>) => void;
  conv2dBackward: (...args: DropLast<Parameters<typeof conv2dBackwardTs>>) => void;
  maxPool2d: typeof maxPool2dTs;
  maxPool2dBackward: typeof maxPool2dBackwardTs;
  meanPool: typeof meanPoolTs;
  meanPoolBackward: typeof meanPoolBackwardTs;
  /** Flash-style causal GQA attention: one call for the forward, one for the backward (see backends/ts/attention.ts). */
  attentionForward: typeof attentionForwardTs;
  attentionBackward: typeof attentionBackwardTs;
  /** A GEMM with a quantised weight, dequantised tile by tile (see backends/ts/quant.ts). */
  quantGemm: QuantGemmKernel;
}

/** A tuple without its last element (the composite TS kernels take the chain's GEMM last). */
type DropLast<T extends unknown[]> = T extends [...infer Head, unknown] ? Head : never;

export type KernelName = keyof Kernels;

export { kernelsFor } from './registry.js';
export type { AdamScalars } from './ts/adam.js';
export type { AttentionArgs, AttentionMask } from './ts/attention.js';
export {
  type AxisWindows,
  adaptiveWindows,
  type ConvArgs,
  type MeanPoolGeometry,
  stridedWindows,
  type WindowGeometry,
  windowOutputSize,
} from './ts/conv.js';
export { type BinaryOp, collapseAxes, type StridedOperand, type UnaryOp } from './ts/elementwise.js';
export type { GemmArgs, GemmKernel } from './ts/gemm.js';
export type { QuantGemmArgs } from './ts/quant.js';
export type { ReduceOp } from './ts/reduce.js';
export type { RopeTable } from './ts/rope.js';
export type { CrossEntropyRows, RowStats } from './ts/softmax.js';

/**
 * A tensor's storage as a strided kernel operand (a view is read in place, without a copy): the bridge from a Tensor's
 * handle to a host kernel's arguments, kept here so that ops never unwrap storage themselves.
 */
export function stridedOperand(t: Tensor, strides: readonly number[] = t.strides): StridedOperand {
  return { data: hostArray(t.storage), strides, offset: t.offset };
}
