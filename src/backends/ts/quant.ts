import type { FloatArray } from '../../engine/dtype.js';
import { dequantizeRows, type QuantWeight } from '../../engine/quant/formats.js';
import { gemmTs } from './gemm.js';

/**
 * A GEMM with a quantised right operand W [rows, cols] (a Linear weight [out, in]); x and y are contiguous row-major.
 * transW: y[m, rows] = x[m, cols] · Wᵀ (the forward of linear); otherwise y[m, cols] = x[m, rows] · W (its input
 * gradient). y is overwritten. The native addon implements exactly this contract for f32.
 */
export interface QuantGemmArgs {
  transW: boolean;
  m: number;
  x: FloatArray;
  w: QuantWeight;
  y: FloatArray;
}

export type QuantGemmKernel = (args: QuantGemmArgs) => void;

/** f32 elements of W dequantised at a time: a tile of whole rows, never the whole weight. */
const TILE_ELEMENTS = 1 << 14;

/**
 * Reference: dequantise a tile of W's rows into scratch and run the reference GEMM on it. With transW each output
 * element is summed in the same order as gemmTs over the whole dequantised W, so the two agree bit for bit.
 */
export const quantGemmTs: QuantGemmKernel = ({ transW, m, x, w, y }) => {
  const { rows, cols } = w;
  const tileRows = Math.max(1, Math.floor(TILE_ELEMENTS / Math.max(cols, 1)));
  if (m === 0) return;
  const Ctor = y.constructor as new (len: number) => FloatArray;
  const scratch = new Ctor(Math.min(tileRows, rows) * cols);
  if (!transW && rows === 0) y.fill(0);
  for (let r0 = 0; r0 < rows; r0 += tileRows) {
    const r1 = Math.min(rows, r0 + tileRows);
    dequantizeRows(w, r0, r1, scratch);
    const common = { transA: false, m, alpha: 1, a: x, strideA: 0, b: scratch, bOffset: 0, ldb: cols, strideB: 0 };
    const output = { c: y, strideC: 0, batch: 1 };
    if (transW) {
      // y[:, r0:r1] = x · tileᵀ
      gemmTs({
        ...common,
        ...output,
        transB: true,
        n: r1 - r0,
        k: cols,
        beta: 0,
        aOffset: 0,
        lda: cols,
        cOffset: r0,
        ldc: rows,
      });
    } else {
      // y += x[:, r0:r1] · tile
      const beta = r0 === 0 ? 0 : 1;
      gemmTs({
        ...common,
        ...output,
        transB: false,
        n: cols,
        k: r1 - r0,
        beta,
        aOffset: r0,
        lda: rows,
        cOffset: 0,
        ldc: cols,
      });
    }
  }
};
