import { noGrad } from '../../engine/autograd.js';
import { type OnProgress, progressReporter, throwIfAborted, yieldOrAbort } from '../../engine/progress.js';
import { asFloat, fromFloat, Tensor } from '../../engine/tensor.js';
import type { DecoderForCausalLM, DecoderLayer, Rope } from '../../models/llama/model.js';
import { Linear } from '../../nn/linear.js';
import { checkNm, checkSparsity, PruneError } from './errors.js';
import { applyMask, nmMask, unstructuredMask } from './mask.js';
import { outlierRatio, owlSparsities } from './owl.js';
import { magnitudeScores, wandaScores } from './scores.js';
import { sparsegptPrune } from './sparsegpt.js';
import { InputStats } from './stats.js';

export type PruneMethod = 'magnitude' | 'wanda' | 'sparsegpt';

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
  /** 1 = kept, 0 = pruned: out·in entries, row-major. */
  mask: Uint8Array;
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

/** A block's Linears that read the same input, so share one statistic: q/k/v, o, gate/up, down. */
interface InputGroup {
  linears: Linear[];
  stats: InputStats | null;
}

/** A block's 7 Linears grouped by their common input, in forward order. */
function inputGroups(layer: DecoderLayer): InputGroup[] {
  const { selfAttn: a, mlp } = layer;
  return [[a.qProj, a.kProj, a.vProj], [a.oProj], [mlp.gateProj, mlp.upProj], [mlp.downProj]].map((linears) => ({
    linears,
    stats: null,
  }));
}

/** A glob over module names as an anchored regular expression: '*' any characters, '?' one. */
function globToRegExp(glob: string): RegExp {
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

/**
 * Run fn while the first Linear of each group adds its inputs to the group's statistics (a forward hook:
 * an own `forward` on the instance shadows the class's until removed).
 */
function recordingInputs(groups: readonly InputGroup[], fn: () => void): void {
  const hooked = groups.map((group) => {
    const linear = group.linears[0];
    linear.forward = (x: Tensor) => {
      group.stats?.add(x);
      return Linear.prototype.forward.call(linear, x);
    };
    return linear;
  });
  try {
    fn();
  } finally {
    for (const linear of hooked) Reflect.deleteProperty(linear, 'forward');
  }
}

/** SparseGPT on w in place: directly on f32 storage, else on an f32 copy written back in w's dtype. */
function sparsegptInPlace(w: Tensor, hessian: Float64Array, sparsity: number, nm?: [number, number]): Uint8Array {
  if (!w.isContiguous()) throw new PruneError('pruneModel: a weight must be contiguous to be pruned in place');
  if (w.dtype === 'f32') {
    return sparsegptPrune(w.dataSync() as Float32Array, hessian, { sparsity, nm }).mask;
  }
  const copy = Float32Array.from(asFloat(w).floatData());
  const { mask } = sparsegptPrune(copy, hessian, { sparsity, nm });
  w.dataSync().set(fromFloat(copy, w.shape).to(w.dtype).dataSync() as never);
  return mask;
}

/** zeros / total, 0 when there are no weights (every Linear skipped). */
const zeroFraction = ({ zeros, total }: { zeros: number; total: number }) => (total === 0 ? 0 : zeros / total);

function countZeros(w: Tensor): number {
  const data = asFloat(w).floatData();
  let zeros = 0;
  for (let i = 0; i < data.length; i++) if (data[i] === 0) zeros++;
  return zeros;
}

/** Elapsed seconds of fn, run off the tape (forwards through weights that require grad), added to a running total. */
function timed<T>(totals: { seconds: number }, fn: () => T): T {
  const start = performance.now();
  try {
    return noGrad(fn);
  } finally {
    totals.seconds += (performance.now() - start) / 1000;
  }
}

/**
 * Prune a decoder's block Linears (q, k, v, o, gate, up, down) in place, block by block, as Wanda,
 * SparseGPT and OWL do (methods-pruning.md, "The common pipeline"):
 * - the inputs of block 0 are the embeddings of the calibration samples (nsamples arrays of seqlen ids);
 * - each block runs dense once on its inputs while its Linears' input statistics are recorded
 *   (Σx² per column for Wanda, the Hessian for SparseGPT), then each non-skipped Linear is scored and
 *   pruned, then the pruned block runs again and its outputs become the next block's inputs;
 * - with allocation 'owl', a first pass over the dense model gives each block's outlier ratio from the
 *   Wanda scores of all its Linears, and owlSparsities turns them into the blocks' sparsities.
 * Magnitude with uniform allocation needs no calibration. Embeddings, norms and lm_head are never pruned.
 * Memory: one block's activations (nsamples × seqlen × hidden) plus the current block's statistics; q/k/v share
 * one Hessian and gate/up another, so SparseGPT holds four per block.
 * It yields to the event loop after each block's statistics pass and after each block's pruning (and per block of
 * OWL's pass), reporting progress per block. An aborted signal stops it there with an OperationAbortedError,
 * leaving the model half-pruned: reload it to start again.
 */
export async function pruneModel(model: DecoderForCausalLM, options: PruneModelOptions): Promise<PruneResult> {
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
  if (!['magnitude', 'wanda', 'sparsegpt'].includes(method))
    throw new PruneError(`pruneModel: unknown method '${method}'`);
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

  const layers = model.model.layers;
  const needsCalibration = method !== 'magnitude' || allocation === 'owl';
  if (needsCalibration) {
    if (calibration.length === 0) {
      throw new PruneError(
        `pruneModel: ${method === 'magnitude' ? 'owl allocation' : method} needs calibration samples: pass options.calibration (e.g. corpusCalibration(tokenizer, documents))`,
      );
    }
    const seqlen = calibration[0].length;
    if (seqlen === 0 || calibration.some((s) => s.length !== seqlen)) {
      throw new PruneError('pruneModel: calibration samples must all have the same, non-zero length');
    }
  }

  // Names of the block Linears, and those the skip globs leave dense.
  const names = new Map<Linear, string>();
  const allNames: string[] = [];
  for (const [name, module] of model.namedModules()) {
    allNames.push(name);
    if (module instanceof Linear) names.set(module, name);
  }
  const skipPatterns = skip.map(globToRegExp);
  skip.forEach((glob, i) => {
    if (!allNames.some((name) => skipPatterns[i].test(name))) {
      throw new PruneError(`pruneModel: skip pattern '${glob}' matches no module`);
    }
  });
  const nameOf = (linear: Linear) => names.get(linear) ?? '?';
  const isSkipped = (linear: Linear) => skipPatterns.some((re) => re.test(nameOf(linear)));

  const calibrationTime = { seconds: 0 };
  const pruningTime = { seconds: 0 };
  const ids = needsCalibration ? idBatches(calibration, batchSize) : [];
  const rope = needsCalibration ? model.rope(0, calibration[0].length) : null;
  // One block's activations: batches of [b, seqlen, hidden], replaced block by block.
  const embedded = () => timed(calibrationTime, () => ids.map((batch) => model.embed(batch)));

  // Only called when calibration is needed, so rope is set.
  const runBlock = (layer: DecoderLayer, x: Tensor) => layer.forward(x, rope as Rope);
  /**
   * Run a block dense on the inputs, recording its groups' input statistics; with `advanceInputs`, the
   * outputs also replace the inputs (OWL's dense pass, where the block's weights do not change in between).
   */
  const record = (
    layer: DecoderLayer,
    inputs: Tensor[],
    groups: InputGroup[],
    hessian: boolean,
    advanceInputs = false,
  ) =>
    timed(calibrationTime, () => {
      for (const group of groups) group.stats = new InputStats(group.linears[0].inFeatures, { hessian });
      recordingInputs(groups, () => {
        for (let i = 0; i < inputs.length; i++) {
          const outputs = runBlock(layer, inputs[i]);
          if (advanceInputs) inputs[i] = outputs;
        }
      });
    });
  /** Replace each batch of inputs by the block's outputs (batch by batch, so one block's activations are held). */
  const advance = (layer: DecoderLayer, inputs: Tensor[]) =>
    timed(calibrationTime, () => {
      for (let i = 0; i < inputs.length; i++) inputs[i] = runBlock(layer, inputs[i]);
    });

  throwIfAborted(signal);
  // OWL's first pass: outlier ratios of the dense model, dense outputs feeding the next block.
  let outlierRatios: number[] | null = null;
  if (allocation === 'owl') {
    const report = progressReporter(onProgress, 'outliers', layers.length, 'block');
    const inputs = embedded();
    outlierRatios = [];
    for (const [index, layer] of layers.entries()) {
      const groups = inputGroups(layer);
      record(layer, inputs, groups, false, index + 1 < layers.length);
      const ratio = timed(pruningTime, () =>
        outlierRatio(
          groups.flatMap((g) => g.linears.map((linear) => wandaScores(linear.weight, (g.stats as InputStats).normsSq))),
          owlM,
        ),
      );
      outlierRatios.push(ratio);
      report(index + 1);
      await yieldOrAbort(signal);
    }
  }
  const blockSparsities = outlierRatios
    ? owlSparsities(outlierRatios, targetSparsity, owlLambda)
    : layers.map(() => targetSparsity);

  /** Prune one Linear in place at the block's sparsity; returns its mask. */
  const pruneLinear = (linear: Linear, stats: InputStats | null, sparsity: number): Uint8Array => {
    const w = linear.weight;
    if (nm) checkNm(nm[0], nm[1], w.shape[1], `pruneModel (${nameOf(linear)})`);
    if (method === 'sparsegpt') return sparsegptInPlace(w, (stats as InputStats).hessian(), sparsity, nm);
    const scores = method === 'wanda' ? wandaScores(w, (stats as InputStats).normsSq) : magnitudeScores(w);
    const mask = nm
      ? nmMask(scores, nm[0], nm[1])
      : unstructuredMask(scores, sparsity, { group: method === 'magnitude' ? magnitudeGroup : 'row' });
    applyMask(w, mask);
    return mask;
  };

  const report = progressReporter(onProgress, 'prune', layers.length, 'block');
  const needsStats = method !== 'magnitude';
  const inputs = needsStats ? embedded() : [];
  const modules: PrunedModule[] = [];
  const skipped: ModuleSparsity[] = [];
  const blocks: PruneResult['blocks'] = [];
  // Zeros and weights of the pruned Linears, and of all block Linears.
  const pruned = { zeros: 0, total: 0 };
  const all = { zeros: 0, total: 0 };
  for (const [index, layer] of layers.entries()) {
    const groups = inputGroups(layer);
    // Groups whose Linears are all skipped need no statistics (SparseGPT's Hessians are the costly part).
    const active = groups.filter((group) => group.linears.some((linear) => !isSkipped(linear)));
    if (needsStats) {
      record(layer, inputs, active, method === 'sparsegpt');
      await yieldOrAbort(signal);
    }
    const block = { zeros: 0, total: 0 };
    timed(pruningTime, () => {
      for (const group of groups) {
        for (const linear of group.linears) {
          const mask = isSkipped(linear) ? null : pruneLinear(linear, group.stats, blockSparsities[index]);
          const [out, inFeatures] = linear.weight.shape;
          const { size } = linear.weight;
          const zeros = countZeros(linear.weight);
          const measured: ModuleSparsity = { name: nameOf(linear), shape: [out, inFeatures], sparsity: zeros / size };
          block.zeros += zeros;
          block.total += size;
          if (mask) {
            pruned.zeros += zeros;
            pruned.total += size;
            modules.push({ ...measured, mask });
          } else {
            skipped.push(measured);
          }
        }
        group.stats = null; // release this group's statistics (SparseGPT's Hessians) as soon as it is done
      }
    });
    all.zeros += block.zeros;
    all.total += block.total;
    blocks.push({
      index,
      outlierRatio: outlierRatios ? outlierRatios[index] : null,
      targetSparsity: blockSparsities[index],
      sparsity: zeroFraction(block),
    });
    if (needsStats && index + 1 < layers.length) advance(layer, inputs);
    report(index + 1);
    await yieldOrAbort(signal);
  }

  return {
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
    seconds: needsCalibration
      ? { calibration: calibrationTime.seconds, pruning: pruningTime.seconds }
      : { pruning: pruningTime.seconds },
  };
}
