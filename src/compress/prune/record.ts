import { Tensor } from '../../engine/tensor.js';
import { type SparsityRecord, setSparsityRecord } from '../../io/sparsity.js';
import { Linear } from '../../nn/linear.js';
import type { Module } from '../../nn/module.js';
import { PruneError } from './errors.js';
import type { PruneResult } from './pipeline.js';

/** config.json's sparsity record for a pruning run: method, structure, global and per-module sparsity, dense modules. */
export function sparsityRecord(result: PruneResult): SparsityRecord {
  return {
    method: result.method,
    structure: result.pattern,
    nm: result.pattern === 'N:M' ? result.nm : null,
    globalSparsity: result.achievedSparsity,
    modules: Object.fromEntries(result.modules.map((m) => [m.name, m.sparsity])),
    dense: result.skipped.map((m) => m.name),
  };
}

/**
 * Mark `model` as pruned by `result`: each pruned Linear carries its mask (so training keeps its zeros) and the model
 * its sparsity record (so saveDecoder writes it into config.json).
 */
export function markPruned(model: Module, result: PruneResult): void {
  const modules = model.namedModules();
  const linears = result.modules.map((pruned) => {
    const linear = modules.get(pruned.name);
    if (!(linear instanceof Linear))
      throw new PruneError(`pruned module '${pruned.name}' is not a Linear of the model`);
    return [linear, pruned] as const;
  });
  // TODO(merge): pruneModel will call linear.setMask itself (pipeline rewrite); then drop this loop, keep the record.
  for (const [linear, pruned] of linears) linear.setMask(new Tensor(pruned.mask, pruned.shape, 'bool'));
  setSparsityRecord(model, sparsityRecord(result));
}
