import type { FloatArray } from '../../engine/dtype.js';

/** What accumulateColumns adds per element: the value, or its square. */
export type ColumnAccumulation = 'sum' | 'sumSquares';

/**
 * A running per-column statistic of a matrix fed batch by batch: acc[j] += Σ_r x[r, j] (or x[r, j]²), x: [rows, cols]
 * row-major (floats, or a bool mask: its trues counted), acc: [cols], f64. The rows are added one after another into acc itself, so feeding batches gives exactly
 * the sum over all their rows in order (a reduction per batch then an add would round differently).
 */
export function accumulateColumnsTs(
  op: ColumnAccumulation,
  x: FloatArray | Uint8Array,
  rows: number,
  cols: number,
  acc: Float64Array,
): void {
  if (cols === 1) {
    // One column (a whole array's total, or a bool mask's count of trues): one running sum.
    let s = acc[0];
    if (op === 'sumSquares') for (let r = 0; r < rows; r++) s += x[r] * x[r];
    else for (let r = 0; r < rows; r++) s += x[r];
    acc[0] = s;
    return;
  }
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    if (op === 'sumSquares') for (let j = 0; j < cols; j++) acc[j] += x[base + j] * x[base + j];
    else for (let j = 0; j < cols; j++) acc[j] += x[base + j];
  }
}
