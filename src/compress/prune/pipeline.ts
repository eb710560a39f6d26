import { type OnProgress, throwIfAborted } from '../../engine/progress.js';
import { Tensor } from '../../engine/tensor.js';
import { setSparsityRecord } from '../../io/sparsity.js';
import type { BlockSequence, NamedLinear } from '../../models/blocks.js';
import type { Module } from '../../nn/module.js';
import { countZeros } from '../../ops/reduce.js';
import { forEachBlock } from '../blockwise.js';
import { checkNm, checkSparsity, PruneError } from './errors.js';
import { outlierRatio, owlSparsities } from './owl.js';
import { sparsityRecord } from './record.js';
import { wandaScores } from './scores.js';
import { InputStats } from './stats.js';
import { PRUNE_STRATEGIES, type PruneMethod } from './strategies.js';

export type { PruneMethod };

export interface PruneOptions {
  method: PruneMethod;
  /** Target fraction of each pruned Linear's weights removed, in [0, 1). With nm it defaults to (and must equal) n/m. */
  sparsity?: number;
  /** N:M pattern [n, m]: prune n of every m consecutive input columns per row (uniform allocation only). */
  nm?: [number, number];
  /** 'uniform' (default): every block at the target; 'owl': per-block sparsities from outlier ratios. */
  allocation?: 'uniform' | 'owl';
  /** OWL's outlier threshold: a score is an outlier above owlM × the block's mean score; default 5. */
  owlM?: number;
  /** OWL's λ: block sparsities lie in [S − λ, S + λ]; default 0.08. */
  owlLambda?: number;
  /** Comparison group of magnitude pruning: per output row (default) or the whole matrix (the papers' baseline). */
  magnitudeGroup?: 'row' | 'layer';
  /**
   * Globs over module names ('*' any characters, '?' one) whose Linears stay dense, e.g. 'model.layers.0.*' or
   * 'model.layers.*.mlp.down_proj'; a glob matching no module is an error. OWL's outlier ratios still count them.
   */
  skip?: readonly string[];
  /** Calibration samples per forward pass; default 4 (bounds the attention scores' memory). */
  batchSize?: number;
  onProgress?: OnProgress;
}

/** pruneModel's options: what to prune, plus the calibration data and an abort signal. */
export type PruneModelOptions = PruneOptions & {
  /** nsamples arrays of seqlen ids, e.g. corpusCalibration(tokenizer, documents); wanda, sparsegpt and owl need them. */
  calibration?: readonly Int32Array[];
  /** Aborting stops between blocks with an OperationAbortedError; the blocks pruned so far stay pruned. */
  signal?: AbortSignal;
};

/** A block Linear's measured sparsity. */
export interface ModuleSparsity {
  /** Full dotted name, e.g. 'model.layers.3.mlp.down_proj'. */
  name: string;
  /** Weight shape [out, in]. */
  shape: [number, number];
  /** Zeros / weights after pruning (a skipped module counts the zeros it already had). */
  sparsity: number;
}

export interface PrunedModule extends ModuleSparsity {
  /** true = kept, false = pruned: bool [out, in]; the Linear's mask (Linear.mask) itself. */
  mask: Tensor;
}

export interface PruneResult {
  method: PruneMethod;
  allocation: 'uniform' | 'owl';
  pattern: 'unstructured' | 'N:M';
  nm: [number, number] | null;
  targetSparsity: number;
  /** Zeros / weights over all block Linears, the skipped ones (with their own zeros) included: the model's figure. */
  achievedSparsity: number;
  /** Zeros / weights over the pruned Linears only. */
  prunedSparsity: number;
  /**
   * Per block: its OWL outlier ratio (percent; null without OWL), the sparsity allocation asked of its pruned
   * Linears, and the measured zeros / weights over all its Linears (skipped included).
   */
  blocks: { index: number; outlierRatio: number | null; targetSparsity: number; sparsity: number }[];
  modules: PrunedModule[];
  /** The block Linears left dense by `skip`. */
  skipped: ModuleSparsity[];
  /**
   * calibration: running calibration data through the blocks and gathering statistics (absent when none is
   * needed: magnitude with uniform allocation); pruning: scoring, masking and SparseGPT's updates.
   */
  seconds: { calibration?: number; pruning: number };
}

/** A glob over module names as an anchored regular expression: '*' any characters, '?' one. */
export function globToRegExp(glob: string): RegExp {
  const escaped = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`);
}

/** Calibration samples [nsamples][seqlen] as batches of ids [b, seqlen] (i32). */
function idBatches(calibration: readonly Int32Array[], batchSize: number): Tensor[] {
  const seqlen = calibration[0].length;
  const batches: Tensor[] = [];
  for (let s = 0; s < calibration.length; s += batchSize) {
    const samples = calibration.slice(s, s + batchSize);
    const ids = new Int32Array(samples.length * seqlen);
    for (let i = 0; i < samples.length; i++) ids.set(samples[i], i * seqlen);
    batches.push(new Tensor(ids, [samples.length, seqlen], 'i32'));
  }
  return batches;
}

/** zeros / total, 0 when there are no weights (every Linear skipped). */
const zeroFraction = ({ zeros, total }: { zeros: number; total: number }) => (total === 0 ? 0 : zeros / total);

/** What pruneModel needs: the block sequence it walks, and the module tree its skip globs and names refer to. */
export type PrunableModel = Module & BlockSequence;

/**
 * Prune a model's block Linears (a decoder's q, k, v, o, gate, up, down) in place, block by block, as Wanda,
 * SparseGPT and OWL do (methods-pruning.md, "The common pipeline"), walking its block sequence with forEachBlock:
 * - the inputs of block 0 are the embeddings of the calibration samples (nsamples arrays of seqlen ids);
 * - each block runs dense once on its inputs while its Linears' input statistics are recorded
 *   (Σx² per column for Wanda, the Hessian for SparseGPT), then each non-skipped Linear is scored and
 *   pruned by its method's strategy (PRUNE_STRATEGIES) and keeps its mask (Linear.setMask), then the pruned block
 *   runs again and its outputs become the next block's inputs;
 * - with allocation 'owl', a first pass over the dense model gives each block's outlier ratio from the
 *   Wanda scores of all its Linears, and owlSparsities turns them into the blocks' sparsities.
 * Magnitude with uniform allocation needs no calibration. Embeddings, norms and lm_head are never pruned.
 * Memory: one block's activations (nsamples × seqlen × hidden) plus the current block's statistics; q/k/v share
 * one Hessian and gate/up another, so SparseGPT holds four per block.
 * It yields to the event loop after each block's statistics pass and after each block's pruning (and per block of
 * OWL's pass), reporting progress per block. An aborted signal stops it there with an OperationAbortedError,
 * leaving the model half-pruned: reload it to start again.
 */
export async function pruneModel(model: PrunableModel, options: PruneModelOptions): Promise<PruneResult> {
  const {
    calibration = [],
    signal,
    method,
    nm,
    allocation = 'uniform',
    owlM = 5,
    owlLambda = 0.08,
    magnitudeGroup = 'row',
    skip = [],
    batchSize = 4,
    onProgress,
  } = options;
  if (!Object.hasOwn(PRUNE_STRATEGIES, method)) throw new PruneError(`pruneModel: unknown method '${method}'`);
  const strategy = PRUNE_STRATEGIES[method];
  if (allocation !== 'uniform' && allocation !== 'owl') {
    throw new PruneError(`pruneModel: unknown allocation '${allocation}'`);
  }
  if (!Number.isInteger(batchSize) || batchSize <= 0) throw new PruneError(`pruneModel: bad batchSize ${batchSize}`);
  const targetSparsity = nm ? nm[0] / nm[1] : options.sparsity;
  if (targetSparsity === undefined) throw new PruneError('pruneModel: give a sparsity or an N:M pattern');
  checkSparsity(targetSparsity, 'pruneModel');
  if (nm) {
    if (options.sparsity !== undefined && options.sparsity !== targetSparsity) {
      throw new PruneError(`pruneModel: sparsity ${options.sparsity} contradicts ${nm[0]}:${nm[1]}`);
    }
    if (allocation !== 'uniform') throw new PruneError('pruneModel: N:M needs uniform allocation');
  }

  const numBlocks = model.blocks().length;
  const needsStats = strategy.statistics !== 'none';
  const needsCalibration = needsStats || allocation === 'owl';
  if (needsCalibration) {
    if (calibration.length === 0) {
      throw new PruneError(
        `pruneModel: ${needsStats ? method : 'owl allocation'} needs calibration samples: pass options.calibration (e.g. corpusCalibration(tokenizer, documents))`,
      );
    }
    const seqlen = calibration[0].length;
    if (seqlen === 0 || calibration.some((s) => s.length !== seqlen)) {
      throw new PruneError('pruneModel: calibration samples must all have the same, non-zero length');
    }
  }

  // The skip globs must each match some module; the block Linears they match stay dense.
  const allNames = [...model.namedModules().keys()];
  const skipPatterns = skip.map(globToRegExp);
  skip.forEach((glob, i) => {
    if (!allNames.some((name) => skipPatterns[i].test(name))) {
      throw new PruneError(`pruneModel: skip pattern '${glob}' matches no module`);
    }
  });
  const isSkipped = ({ name }: NamedLinear) => skipPatterns.some((re) => re.test(name));

  // calibration: running blocks (embedding included); pruning: acting on them (OWL's ratios, scoring, masking).
  const seconds = { running: 0, acting: 0 };
  const ids = needsCalibration ? idBatches(calibration, batchSize) : null;

  throwIfAborted(signal);
  // OWL's first pass: outlier ratios of the dense model, dense outputs feeding the next block.
  let outlierRatios: number[] | null = null;
  if (allocation === 'owl') {
    const ratios: number[] = [];
    await forEachBlock<InputStats>(model, {
      inputs: ids,
      collect: (group) => new InputStats(group[0].linear.inFeatures),
      act: ({ groups }) => {
        const scores = groups.flatMap((g) =>
          g.linears.map(({ linear }) => wandaScores(linear.weight, (g.stats as InputStats).normsSq)),
        );
        ratios.push(outlierRatio(scores, owlM));
      },
      changesBlock: false,
      phase: 'outliers',
      onProgress,
      signal,
      seconds,
    });
    outlierRatios = ratios;
  }
  const blockSparsities = outlierRatios
    ? owlSparsities(outlierRatios, targetSparsity, owlLambda)
    : Array.from({ length: numBlocks }, () => targetSparsity);

  /** Prune one Linear at the block's sparsity: its strategy's mask, set on it, zeroes the pruned weights. */
  const pruneLinear = (named: NamedLinear, stats: InputStats | null, sparsity: number): Tensor => {
    const { linear, name } = named;
    const inFeatures = linear.weight.shape[1];
    if (!linear.weight.isContiguous())
      throw new PruneError('pruneModel: a weight must be contiguous to be pruned in place');
    if (nm) checkNm(nm[0], nm[1], inFeatures, `pruneModel (${name})`);
    const mask = strategy.prune(linear, stats, { sparsity, nm, magnitudeGroup });
    linear.setMask(mask);
    return mask;
  };

  const modules: PrunedModule[] = [];
  const skipped: ModuleSparsity[] = [];
  const blocks: PruneResult['blocks'] = [];
  // Zeros and weights of the pruned Linears, and of all block Linears.
  const pruned = { zeros: 0, total: 0 };
  const all = { zeros: 0, total: 0 };
  await forEachBlock<InputStats>(model, {
    inputs: needsStats ? ids : null,
    // Groups whose Linears are all skipped need no statistics (SparseGPT's Hessians are the costly part).
    collect: (group) =>
      group.some((named) => !isSkipped(named))
        ? new InputStats(group[0].linear.inFeatures, { hessian: strategy.statistics === 'hessian' })
        : null,
    act: ({ index, groups }) => {
      const block = { zeros: 0, total: 0 };
      for (const group of groups) {
        for (const named of group.linears) {
          const mask = isSkipped(named) ? null : pruneLinear(named, group.stats, blockSparsities[index]);
          const w = named.linear.weight;
          const [out, inFeatures] = w.shape;
          const zeros = countZeros(w);
          const measured: ModuleSparsity = { name: named.name, shape: [out, inFeatures], sparsity: zeros / w.size };
          block.zeros += zeros;
          block.total += w.size;
          if (mask) {
            pruned.zeros += zeros;
            pruned.total += w.size;
            modules.push({ ...measured, mask });
          } else {
            skipped.push(measured);
          }
        }
        group.stats = null; // release this group's statistics (SparseGPT's Hessians) as soon as it is done
      }
      all.zeros += block.zeros;
      all.total += block.total;
      blocks.push({
        index,
        outlierRatio: outlierRatios ? outlierRatios[index] : null,
        targetSparsity: blockSparsities[index],
        sparsity: zeroFraction(block),
      });
    },
    phase: 'prune',
    onProgress,
    signal,
    seconds,
  });

  const result: PruneResult = {
    method,
    allocation,
    pattern: nm ? 'N:M' : 'unstructured',
    nm: nm ? [nm[0], nm[1]] : null,
    targetSparsity,
    achievedSparsity: zeroFraction(all),
    prunedSparsity: zeroFraction(pruned),
    blocks,
    modules,
    skipped,
    seconds: needsCalibration ? { calibration: seconds.running, pruning: seconds.acting } : { pruning: seconds.acting },
  };
  // The masks are on the Linears already; the record makes saveDecoder write the sparsity into config.json.
  setSparsityRecord(model, sparsityRecord(result));
  return result;
}
