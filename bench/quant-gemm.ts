/**
 * Native quantised GEMM against the native f32 GEMM of the same shape, in the same run: y = x · Wᵀ for a Linear weight
 * W [n, k] (a 1-row GEMV, as in decoding, and a 64-row GEMM). 'hot' reuses one weight, which then sits in the cache;
 * 'streamed' cycles through LAYERS weights (128 MB in f32, more than the L3), as a decoder does layer after layer.
 * Rounds alternate between the kernels and each keeps its best time, so that load from elsewhere on the machine does
 * not decide the ratio. A ratio above 1 means the quantised kernel is faster than f32.
 */
import { loadNative } from '../src/backends/native/loader.js';
import { nativeKernelTable } from '../src/backends/registry.js';
import { randn } from '../src/engine/create.js';
import type { QuantFormat } from '../src/engine/quant/formats.js';
import { quantize } from '../src/engine/quant/quantized-tensor.js';
import { Rng } from '../src/engine/rng.js';

const kernels = nativeKernelTable();
if (!kernels) {
  console.log(`bench:quant needs the native addon (${loadNative().status.reason})`);
  process.exit(1);
}

const N = 2048;
const K = 2048;
const ROUNDS = 5;
const REPS = 10;
const FORMATS: QuantFormat[] = ['int8', 'int4', 'int8-channel'];
const LAYERS = 8;

/** Best seconds per call of fn over ROUNDS × REPS calls, interleaved with the other kernels by the caller. */
function timeOnce(fn: () => void): number {
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < REPS; r++) {
    const start = process.hrtime.bigint();
    fn();
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e9);
  }
  return best;
}

const weights = Array.from({ length: LAYERS }, (_, i) => randn([N, K], { rng: new Rng(i + 1) }));
const dense = weights.map((t) => t.floatData() as Float32Array);
const quantized = Object.fromEntries(FORMATS.map((f) => [f, weights.map((t) => quantize(t, f))]));
const addon = loadNative().addon;
console.log(
  `quantised GEMM y = x · Wᵀ, W [${N} x ${K}], groups of 256; native ${addon?.simd()}, ${addon?.threads()} threads`,
);
console.log(`weights | rows | f32 ms | ${FORMATS.map((f) => `${f} ms (f32/${f})`).join(' | ')}`);
for (const [label, layers, m] of [
  ['hot', 1, 1],
  ['streamed', LAYERS, 1],
  ['hot', 1, 64],
  ['streamed', LAYERS, 64],
] as const) {
  let layer = 0;
  const next = () => {
    layer = (layer + 1) % layers;
    return layer;
  };
  const x = randn([m, K], { rng: new Rng(2) }).floatData() as Float32Array;
  const y = new Float32Array(m * N);
  const f32 = () =>
    kernels.gemm({
      transA: false,
      transB: true,
      m,
      n: N,
      k: K,
      alpha: 1,
      beta: 0,
      a: x,
      aOffset: 0,
      lda: K,
      strideA: 0,
      b: dense[next()],
      bOffset: 0,
      ldb: K,
      strideB: 0,
      c: y,
      cOffset: 0,
      ldc: N,
      strideC: 0,
      batch: 1,
    });
  const runs: Record<string, () => void> = { f32 };
  for (const f of FORMATS) runs[f] = () => kernels.quantGemm({ transW: true, m, x, w: quantized[f][next()], y });
  const best: Record<string, number> = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, fn] of Object.entries(runs))
      best[name] = Math.min(best[name] ?? Number.POSITIVE_INFINITY, timeOnce(fn));
  }
  const ms = (s: number) => (s * 1e3).toFixed(3);
  console.log(
    `${label.padStart(8)} | ${String(m).padStart(4)} | ${ms(best.f32)} | ` +
      FORMATS.map((f) => `${ms(best[f])} (${(best.f32 / best[f]).toFixed(2)}x)`).join(' | '),
  );
}
