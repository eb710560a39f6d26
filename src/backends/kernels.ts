import type { DType, Storage } from '../engine/dtype.js';
import type { QuantWeight } from '../engine/quant/formats.js';
import type { Tensor } from '../engine/tensor.js';
import { backendChain } from './registry.js';
import type { StorageHandle } from './storage.js';
import type { accumulateColumnsTs } from './ts/accumulate.js';
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
import type { obsPruneTs } from './ts/obs.js';
import type { QuantGemmKernel } from './ts/quant.js';
import type { reduceTs } from './ts/reduce.js';
import type { ropeTs } from './ts/rope.js';
import type { sampleSortedTs } from './ts/sample.js';
import type { maskLowestTs } from './ts/select.js';
import type { sgdUpdateTs } from './ts/sgd.js';
import type {
  crossEntropyBackwardTs,
  crossEntropyForwardTs,
  softmaxBackwardTs,
  softmaxBandsTs,
  softmaxForwardTs,
} from './ts/softmax.js';
import type { svdBatchTs } from './ts/svd.js';
import type { vectorNormTs } from './ts/vector-norm.js';

/**
 * Every kernel, by name, as a host backend implements it: flat host arrays plus sizes and strides. The TypeScript
 * implementation (backends/ts) is the reference that every other backend must agree with. Ops do not see these
 * arrays: they call `kernelsFor(dtype)`, whose entries take storage handles where these take arrays (`Kernels`).
 * Adding a kernel: add its signature here, its TypeScript entry in backends/ts/table.ts (and a native one in
 * backends/native/table.ts if it has one), and its rows in test/backends/cases.ts.
 */
export interface HostKernels {
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
  /** A running per-column sum (or sum of squares) in f64, added row by row (see backends/ts/accumulate.ts). */
  accumulateColumns: typeof accumulateColumnsTs;
  /** SparseGPT's OBS pruning loop over column blocks, its error propagation through the chain's GEMM (backends/ts/obs.ts). */
  obsPrune: (...args: DropLast<Parameters<typeof obsPruneTs>>) => void;
  /** A keep mask without the count lowest of each run, chosen by threshold (see backends/ts/select.ts). */
  maskLowest: typeof maskLowestTs;
  /** SGD's in-place update with weight decay and (Nesterov) momentum (see backends/ts/sgd.ts). */
  sgdUpdate: typeof sgdUpdateTs;
  /** The L2 norm of a vector as torch's CPU kernel sums it (8 lanes), into one element of out. */
  vectorNorm: typeof vectorNormTs;
  /** A position drawn from sorted scores with temperature and top-p (see backends/ts/sample.ts). */
  sampleSorted: typeof sampleSortedTs;
  /** f64 SVDs (or singular values alone) of a batch of matrices; native runs one matrix per thread (see backends/ts/svd.ts). */
  svdBatch: typeof svdBatchTs;
}

/** A tuple without its last element (the composite TS kernels take the chain's GEMM last). */
type DropLast<T extends unknown[]> = T extends [...infer Head, unknown] ? Head : never;

export type KernelName = keyof HostKernels;

/**
 * A host kernel's argument as ops pass it: every host array becomes a storage handle, also inside argument objects
 * (GemmArgs.a, StridedOperand.data) and lists of them; a quantised weight is passed as it is.
 */
export type Handles<T> = T extends Storage
  ? StorageHandle
  : T extends QuantWeight
    ? T
    : T extends readonly unknown[]
      ? { [I in keyof T]: Handles<T[I]> }
      : T extends object
        ? { [F in keyof T]: Handles<T[F]> }
        : T;

/** The kernels as ops call them: each host kernel's signature with handles in place of host arrays. */
export type Kernels = {
  [K in KernelName]: (...args: Handles<Parameters<HostKernels[K]>>) => Handles<ReturnType<HostKernels[K]>>;
};

export { kernelsFor } from './registry.js';
export type { StorageHandle } from './storage.js';
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
export type { CrossEntropyRows } from './ts/softmax.js';

/** A strided kernel operand as ops pass it: a storage handle, strides (broadcast to the output) and an offset. */
export type StridedHandle = Handles<StridedOperand>;

/** A tensor's storage as a strided kernel operand: a view is read in place, without a copy. */
export function stridedOperand(t: Tensor, strides: readonly number[] = t.strides): StridedHandle {
  return { data: t.storage, strides, offset: t.offset };
}

/** Storage for n elements of dtype whose contents the kernel that fills it overwrites (outputs, scratch). */
export function allocate(dtype: DType, n: number): StorageHandle {
  return backendChain()[0].allocate(dtype, n);
}

/** Storage for n zeros of dtype (outputs a kernel accumulates into, or does not write everywhere). */
export function allocateZeroed(dtype: DType, n: number): StorageHandle {
  return backendChain()[0].allocate(dtype, n, true);
}

/** Values made on the host (a table, an index list, a random mask) as storage a kernel can read. */
export function upload(values: Storage): StorageHandle {
  return backendChain()[0].upload(values);
}
