import { noGrad } from '../engine/autograd.js';
import { type OnProgress, progressReporter, yieldOrAbort } from '../engine/progress.js';
import type { Tensor } from '../engine/tensor.js';
import type { BlockSequence, NamedLinear, SequenceBlock } from '../models/blocks.js';
import type { Disposable } from '../nn/module.js';

/** Takes a Linear's inputs batch by batch, e.g. prune/stats.ts's InputStats (Σx², the Hessian). */
export interface InputCollector {
  add(x: Tensor): void;
}

/** A block's Linears that read one input, and what was collected from it (null: nothing asked). */
export interface CollectedGroup<S extends InputCollector> {
  linears: readonly NamedLinear[];
  /** Set to null to release it early (e.g. SparseGPT's Hessian once the group is pruned). */
  stats: S | null;
}

/** The block an action works on. */
export interface BlockVisit<S extends InputCollector> {
  index: number;
  block: SequenceBlock;
  groups: CollectedGroup<S>[];
}

export interface BlockwiseOptions<S extends InputCollector> {
  /**
   * Batches of model inputs (e.g. calibration ids [b, T]) carried through the blocks; null: run nothing, only act on
   * each block (nothing is collected).
   */
  inputs: readonly Tensor[] | null;
  /** The collector of one group's input in this block, or null to collect nothing for it (e.g. all skipped). */
  collect?: (group: readonly NamedLinear[], block: SequenceBlock) => S | null;
  /** What to do with a block once its inputs are collected: prune its Linears, score it, ... */
  act: (visit: BlockVisit<S>) => void;
  /**
   * Whether act changes the block's outputs (default true): then the block runs again after act, and its new outputs
   * feed the next block. false: the collecting run's outputs already do (one forward per block, e.g. a dense pass).
   */
  changesBlock?: boolean;
  /** The progress phase, reported once per block. */
  phase: string;
  onProgress?: OnProgress;
  /** Checked at each yield: it stops the walk there with an OperationAbortedError. */
  signal?: AbortSignal;
  /** Running totals this walk adds to: seconds running blocks (embedding included) and seconds in act. */
  seconds?: { running: number; acting: number };
}

/** fn off the tape (weights that require grad are read, not trained), its wall time added to totals[key]. */
function timed<T, K extends string>(totals: Record<K, number>, key: K, fn: () => T): T {
  const start = performance.now();
  try {
    return noGrad(fn);
  } finally {
    totals[key] += (performance.now() - start) / 1000;
  }
}

/** Run fn while each group's first Linear passes its inputs to the group's collector (forward hooks, then disposed). */
function collecting<S extends InputCollector>(groups: readonly CollectedGroup<S>[], fn: () => void): void {
  const hooks: Disposable[] = [];
  try {
    for (const group of groups) {
      const { stats } = group;
      if (stats) hooks.push(group.linears[0].linear.registerForwardHook((_, inputs) => stats.add(inputs[0] as Tensor)));
    }
    fn();
  } finally {
    for (const hook of hooks) hook.dispose();
  }
}

/**
 * The layer-wise skeleton of sequential pruning (and WeLore, SNIP, EWC): block 0's inputs are the embedded model
 * inputs; each block runs on them while its groups' inputs are collected, then `act` works on the block, then the
 * block runs again (when act changed it) and its outputs become the next block's inputs.
 * Memory: one block's activations (all batches) plus one block's collectors.
 * It yields to the event loop after each collecting run that act may change the block after, and after each block
 * (reporting progress per block); an aborted signal stops it there with an OperationAbortedError.
 */
export async function forEachBlock<S extends InputCollector>(
  model: BlockSequence,
  options: BlockwiseOptions<S>,
): Promise<void> {
  const { inputs, collect, act, changesBlock = true, phase, onProgress, signal } = options;
  const seconds = options.seconds ?? { running: 0, acting: 0 };
  const blocks = model.blocks();
  const report = progressReporter(onProgress, phase, blocks.length, 'block');
  // One block's activations, batch by batch, replaced block by block.
  const hidden = inputs && timed(seconds, 'running', () => inputs.map((batch) => model.embed(batch)));
  for (const [index, block] of blocks.entries()) {
    const groups: CollectedGroup<S>[] = block.linearGroups.map((linears) => ({ linears, stats: null }));
    const advance = index + 1 < blocks.length;
    if (hidden) {
      timed(seconds, 'running', () => {
        for (const group of groups) group.stats = collect?.(group.linears, block) ?? null;
        collecting(groups, () => {
          for (let i = 0; i < hidden.length; i++) {
            const outputs = model.runBlock(index, hidden[i]);
            if (!changesBlock && advance) hidden[i] = outputs;
          }
        });
      });
      if (changesBlock) await yieldOrAbort(signal);
    }
    timed(seconds, 'acting', () => act({ index, block, groups }));
    if (hidden && changesBlock && advance) {
      timed(seconds, 'running', () => {
        for (let i = 0; i < hidden.length; i++) hidden[i] = model.runBlock(index, hidden[i]);
      });
    }
    report(index + 1);
    await yieldOrAbort(signal);
  }
}
