import type { SparsityRecord } from '../../io/sparsity.js';
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
