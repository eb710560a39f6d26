import type { FloatArray } from '../../engine/dtype.js';
import { copyStrided } from './copy.js';

export type ReduceOp = 'sum' | 'max' | 'min' | 'argmax' | 'argmin';

function reduceRows(op: ReduceOp, x: FloatArray, rows: number, len: number, out: FloatArray | Int32Array): void {
  for (let r = 0; r < rows; r++) {
    const base = r * len;
    if (op === 'sum') {
      let s = 0;
      for (let i = 0; i < len; i++) s += x[base + i];
      out[r] = s;
      continue;
    }
    // max/min and arg variants: NaN wins, as in PyTorch; first index on ties.
    const isMax = op === 'max' || op === 'argmax';
    let best = x[base];
    let at = 0;
    for (let i = 1; i < len && !Number.isNaN(best); i++) {
      const v = x[base + i];
      if (Number.isNaN(v) || (isMax ? v > best : v < best)) {
        best = v;
        at = i;
      }
    }
    out[r] = op === 'argmax' || op === 'argmin' ? at : best;
  }
}

/**
 * Reduce a contiguous tensor over sorted, unique axes. The output holds the kept axes in order
 * (keepdim is a reshape the caller does). argmax/argmin return flat indices into the reduced axes.
 */
export function reduceTs(
  op: ReduceOp,
  x: FloatArray,
  shape: readonly number[],
  axes: readonly number[],
): FloatArray | Int32Array {
  const rank = shape.length;
  const reduced = new Set(axes);
  let keptSize = 1;
  let redSize = 1;
  for (let i = 0; i < rank; i++) {
    if (reduced.has(i)) redSize *= shape[i];
    else keptSize *= shape[i];
  }
  const isArg = op === 'argmax' || op === 'argmin';
  const out: FloatArray | Int32Array = isArg
    ? new Int32Array(keptSize)
    : new (x.constructor as new (n: number) => FloatArray)(keptSize);
  if (keptSize === 0) return out;
  if (redSize === 0) {
    if (op === 'sum') return out;
    out.fill(op === 'max' ? Number.NEGATIVE_INFINITY : op === 'min' ? Number.POSITIVE_INFINITY : 0);
    return out;
  }
  const trailing = axes.every((a, i) => a === rank - axes.length + i);
  if (trailing) {
    reduceRows(op, x, keptSize, redSize, out);
    return out;
  }
  const leading = axes.every((a, i) => a === i);
  if (leading && op === 'sum') {
    // Column sums: walk rows contiguously for cache-friendliness.
    const acc = out as FloatArray;
    for (let r = 0; r < redSize; r++) {
      const base = r * keptSize;
      for (let j = 0; j < keptSize; j++) acc[j] += x[base + j];
    }
    return out;
  }
  // General case: permute to [kept..., reduced...] and reduce rows.
  const strides = new Array<number>(rank);
  let s = 1;
  for (let i = rank - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  const order = [...Array.from({ length: rank }, (_, i) => i).filter((i) => !reduced.has(i)), ...axes];
  const permuted = copyStrided(
    x,
    order.map((i) => shape[i]),
    order.map((i) => strides[i]),
    0,
  );
  reduceRows(op, permuted, keptSize, redSize, out);
  return out;
}
