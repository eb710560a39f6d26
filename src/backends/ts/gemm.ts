import type { FloatArray } from '../../engine/dtype.js';

/**
 * Batched, strided, row-major GEMM: C[b] = alpha · op(A[b]) · op(B[b]) + beta · C[b].
 * op(A) is m×k (stored k×m when transA), op(B) is k×n (stored n×k when transB).
 * Batch b reads A at aOffset + b·strideA (a stride of 0 broadcasts one matrix), likewise B and C.
 * The native addon implements exactly this contract.
 */
export interface GemmArgs {
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
  alpha: number;
  beta: number;
  a: FloatArray;
  aOffset: number;
  lda: number;
  strideA: number;
  b: FloatArray;
  bOffset: number;
  ldb: number;
  strideB: number;
  c: FloatArray;
  cOffset: number;
  ldc: number;
  strideC: number;
  batch: number;
}

export type GemmKernel = (args: GemmArgs) => void;

/** Reference GEMM: packs op(A) and op(B) row-major, then runs an i-p-j loop (contiguous inner loop). */
export const gemmTs: GemmKernel = (g) => {
  const { m, n, k, alpha, beta } = g;
  const Ctor = g.c.constructor as new (len: number) => FloatArray;
  const aPack = new Ctor(m * k);
  const bPack = new Ctor(k * n);
  const row = new Ctor(n);
  for (let bi = 0; bi < g.batch; bi++) {
    const aBase = g.aOffset + bi * g.strideA;
    const bBase = g.bOffset + bi * g.strideB;
    const cBase = g.cOffset + bi * g.strideC;
    for (let i = 0; i < m; i++) {
      for (let p = 0; p < k; p++) {
        aPack[i * k + p] = g.transA ? g.a[aBase + p * g.lda + i] : g.a[aBase + i * g.lda + p];
      }
    }
    for (let p = 0; p < k; p++) {
      for (let j = 0; j < n; j++) {
        bPack[p * n + j] = g.transB ? g.b[bBase + j * g.ldb + p] : g.b[bBase + p * g.ldb + j];
      }
    }
    for (let i = 0; i < m; i++) {
      row.fill(0);
      for (let p = 0; p < k; p++) {
        const aip = aPack[i * k + p];
        if (aip === 0) continue;
        const bRow = p * n;
        for (let j = 0; j < n; j++) row[j] += aip * bPack[bRow + j];
      }
      const cRow = cBase + i * g.ldc;
      if (beta === 0) {
        for (let j = 0; j < n; j++) g.c[cRow + j] = alpha * row[j];
      } else {
        for (let j = 0; j < n; j++) g.c[cRow + j] = alpha * row[j] + beta * g.c[cRow + j];
      }
    }
  }
};
