import type { FloatArray } from '../../engine/dtype.js';
import { sortTs } from './indexing.js';

/** Runs longer than this are selected by threshold: a radix argsort of one long run is slow (cache misses). */
const ARGSORT_MAX = 1 << 16;

/** Mark (0) the `count` lowest of x[base, base + len) by the count-th smallest value, no argsort. */
function markByThreshold(x: FloatArray, base: number, len: number, count: number, keep: Uint8Array): void {
  const threshold = x.slice(base, base + len).sort()[count - 1];
  const end = base + len;
  let marked = 0;
  if (Number.isNaN(threshold)) {
    // Every number sorts before NaN: all of them go, then the first NaNs.
    for (let i = base; i < end; i++) if (!Number.isNaN(x[i])) keep[i] = 0;
    marked = len - x.subarray(base, end).filter(Number.isNaN).length;
    for (let i = base; i < end && marked < count; i++) {
      if (Number.isNaN(x[i])) {
        keep[i] = 0;
        marked++;
      }
    }
    return;
  }
  for (let i = base; i < end; i++) {
    if (x[i] < threshold) {
      keep[i] = 0;
      marked++;
    }
  }
  for (let i = base; i < end && marked < count; i++) {
    if (x[i] === threshold) {
      keep[i] = 0;
      marked++;
    }
  }
}

/**
 * Mark the `count` lowest of each of `groups` contiguous runs of `len` values: keep [groups·len] gets 0 there and 1
 * elsewhere. The lowest are those a stable ascending sort puts first (NaN last, -0 equal to +0, ties by index):
 * short runs take the argsort, long ones the equivalent threshold rule (all below the count-th smallest, then its
 * equals in index order).
 */
export function maskLowestTs(x: FloatArray, groups: number, len: number, count: number, keep: Uint8Array): void {
  keep.fill(1, 0, groups * len);
  if (count === 0) return;
  if (len > ARGSORT_MAX) {
    for (let g = 0; g < groups; g++) markByThreshold(x, g * len, len, count, keep);
    return;
  }
  const order = new Int32Array(groups * len);
  sortTs(x, groups, len, 1, false, order);
  for (let g = 0; g < groups; g++) {
    const base = g * len;
    for (let k = 0; k < count; k++) keep[base + order[base + k]] = 0;
  }
}
