import type { FloatArray } from '../../engine/dtype.js';
import type { CompleteKernelTable } from '../backend.js';
import { accumulateColumnsTs } from './accumulate.js';
import { adamDeltaTs } from './adam.js';
import { attentionBackwardTs, attentionForwardTs } from './attention.js';
import {
  conv2dBackwardTs,
  conv2dForwardTs,
  maxPool2dBackwardTs,
  maxPool2dTs,
  meanPoolBackwardTs,
  meanPoolTs,
} from './conv.js';
import { copyStrided, writeStridedTs } from './copy.js';
import { binaryTs, unaryGradTs, unaryTs, whereTs } from './elementwise.js';
import { type GemmKernel, gemmTs } from './gemm.js';
import { concatTs, gatherTs, indexAddTs, indexSelectTs, scatterAddTs, sortTs, topkTs } from './indexing.js';
import { layerNormBackwardTs, layerNormForwardTs, rmsNormBackwardTs, rmsNormForwardTs } from './norm.js';
import { obsPruneTs } from './obs.js';
import { quantGemmTs } from './quant.js';
import { reduceTs } from './reduce.js';
import { ropeTs } from './rope.js';
import { sampleSortedTs } from './sample.js';
import { maskLowestTs } from './select.js';
import { sgdUpdateTs } from './sgd.js';
import {
  crossEntropyBackwardTs,
  crossEntropyForwardTs,
  softmaxBackwardTs,
  softmaxBandsTs,
  softmaxForwardTs,
} from './softmax.js';
import { svdBatchTs } from './svd.js';
import { vectorNormTs } from './vector-norm.js';

const all = 'all' as const;

/**
 * The TypeScript reference for every kernel, in every dtype. A composite kernel (convolution, OBS pruning) runs its GEMMs through
 * `gemmFor`, the chain's GEMM for the operand's dtype, so that it computes exactly as the GEMM op does.
 */
export function tsKernelTable(gemmFor: (x: FloatArray) => GemmKernel): CompleteKernelTable {
  return {
    gemm: { run: gemmTs, dtypes: all },
    unary: { run: unaryTs, dtypes: all },
    unaryGrad: { run: unaryGradTs, dtypes: all },
    binary: { run: binaryTs, dtypes: all },
    where: { run: whereTs, dtypes: all },
    softmax: { run: softmaxForwardTs, dtypes: all },
    softmaxBands: { run: softmaxBandsTs, dtypes: all },
    softmaxBackward: { run: softmaxBackwardTs, dtypes: all },
    rmsNormForward: { run: rmsNormForwardTs, dtypes: all },
    rmsNormBackward: { run: rmsNormBackwardTs, dtypes: all },
    layerNormForward: { run: layerNormForwardTs, dtypes: all },
    layerNormBackward: { run: layerNormBackwardTs, dtypes: all },
    rope: { run: ropeTs, dtypes: all },
    copyStrided: { run: copyStrided, dtypes: all },
    writeStrided: { run: writeStridedTs, dtypes: all },
    adamDelta: { run: adamDeltaTs, dtypes: all },
    crossEntropyForward: { run: crossEntropyForwardTs, dtypes: all },
    crossEntropyBackward: { run: crossEntropyBackwardTs, dtypes: all },
    reduce: { run: reduceTs, dtypes: all },
    indexSelect: { run: indexSelectTs, dtypes: all },
    indexAdd: { run: indexAddTs, dtypes: all },
    gather: { run: gatherTs, dtypes: all },
    scatterAdd: { run: scatterAddTs, dtypes: all },
    concat: { run: concatTs, dtypes: all },
    sort: { run: sortTs, dtypes: all },
    topk: { run: topkTs, dtypes: all },
    conv2dForward: {
      run: (args, bias, out) => conv2dForwardTs(args, bias, out, gemmFor(args.x)),
      dtypes: all,
      uses: ['gemm'],
    },
    conv2dBackward: {
      run: (args, g, dx, dw, db) => conv2dBackwardTs(args, g, dx, dw, db, gemmFor(args.x)),
      dtypes: all,
      uses: ['gemm'],
    },
    maxPool2d: { run: maxPool2dTs, dtypes: all },
    maxPool2dBackward: { run: maxPool2dBackwardTs, dtypes: all },
    meanPool: { run: meanPoolTs, dtypes: all },
    meanPoolBackward: { run: meanPoolBackwardTs, dtypes: all },
    attentionForward: { run: attentionForwardTs, dtypes: all },
    attentionBackward: { run: attentionBackwardTs, dtypes: all },
    quantGemm: { run: quantGemmTs, dtypes: all },
    accumulateColumns: { run: accumulateColumnsTs, dtypes: all },
    obsPrune: { run: (args, keep) => obsPruneTs(args, keep, gemmFor(args.w)), dtypes: all, uses: ['gemm'] },
    maskLowest: { run: maskLowestTs, dtypes: all },
    sgdUpdate: { run: sgdUpdateTs, dtypes: all },
    vectorNorm: { run: vectorNormTs, dtypes: all },
    sampleSorted: { run: sampleSortedTs, dtypes: all },
    svdBatch: { run: svdBatchTs, dtypes: all },
  };
}
