/**
 * GEMM GFLOP/s: lithe native, lithe TypeScript and numpy (OpenBLAS), in the same run.
 * Native and numpy alternate over a few rounds and each keeps its best time, so that a burst of
 * load from elsewhere on the machine does not decide the ratio.
 */
import { spawnSync } from 'node:child_process';
import { loadNative } from '../src/backends/native/loader.js';
import { nativeKernelTable } from '../src/backends/registry.js';
import { type GemmArgs, type GemmKernel, gemmTs } from '../src/backends/ts/gemm.js';

interface Shape {
  label: string;
  m: number;
  k: number;
  n: number;
  /** Counts toward the final ratio (every size >= 1024). */
  headline: boolean;
}

const shapes: Shape[] = [
  { label: '512 square', m: 512, k: 512, n: 512, headline: false },
  { label: '1024 square', m: 1024, k: 1024, n: 1024, headline: true },
  { label: '2048 square', m: 2048, k: 2048, n: 2048, headline: true },
  { label: '[4096x384]·[384x1024]', m: 4096, k: 384, n: 1024, headline: true },
  { label: '[4096x1024]·[1024x384]', m: 4096, k: 1024, n: 384, headline: true },
];

const ROUNDS = 5;
const REPS = 5;
/** The TypeScript kernel runs at a few GFLOP/s: skip it above this many flops. */
const TS_MAX_FLOPS = 4e9;

const flops = (s: Shape) => 2 * s.m * s.n * s.k;

function argsFor(s: Shape): GemmArgs {
  const a = Float32Array.from({ length: s.m * s.k }, () => Math.random() * 2 - 1);
  const b = Float32Array.from({ length: s.k * s.n }, () => Math.random() * 2 - 1);
  const c = new Float32Array(s.m * s.n);
  return {
    transA: false,
    transB: false,
    m: s.m,
    n: s.n,
    k: s.k,
    alpha: 1,
    beta: 0,
    a,
    aOffset: 0,
    lda: s.k,
    strideA: 0,
    b,
    bOffset: 0,
    ldb: s.n,
    strideB: 0,
    c,
    cOffset: 0,
    ldc: s.n,
    strideC: 0,
    batch: 1,
  };
}

/** Best seconds per call over `reps` timed calls. */
function bestSeconds(kernel: GemmKernel, args: GemmArgs, reps: number): number {
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < reps; r++) {
    const start = process.hrtime.bigint();
    kernel(args);
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e9);
  }
  return best;
}

const numpyScript = `
import sys, time
import numpy as np
m, k, n, reps = map(int, sys.argv[1:5])
rng = np.random.default_rng(0)
a = rng.random((m, k), dtype=np.float32)
b = rng.random((k, n), dtype=np.float32)
a @ b
best = float('inf')
for _ in range(reps):
    t = time.perf_counter()
    a @ b
    best = min(best, time.perf_counter() - t)
print(best)
`;

// The environment pins OpenBLAS to Haswell kernels with a 512 KB L2; numpy must get its defaults.
const numpyEnv = { ...process.env };
delete numpyEnv.OPENBLAS_CORETYPE;
delete numpyEnv.OPENBLAS_L2_SIZE;

/** Best seconds per numpy matmul, or null when python3 or numpy is unavailable. */
function numpySeconds(s: Shape, reps: number): number | null {
  const run = spawnSync('python3', ['-c', numpyScript, String(s.m), String(s.k), String(s.n), String(reps)], {
    encoding: 'utf8',
    env: numpyEnv,
  });
  if (run.status !== 0) return null;
  const seconds = Number.parseFloat(run.stdout.trim());
  return Number.isFinite(seconds) ? seconds : null;
}

const gflops = (s: Shape, seconds: number | null) => (seconds === null ? null : flops(s) / seconds / 1e9);
const cell = (x: number | null, width: number, digits = 1) => (x === null ? 'n/a' : x.toFixed(digits)).padStart(width);

const native = nativeKernelTable();
const { addon, status } = loadNative();
console.log(
  addon ? `lithe native: ${addon.simd()}, ${addon.threads()} threads` : `lithe native: unavailable (${status.reason})`,
);

let numpyAvailable = true;
const headlineRatios: number[] = [];
console.log(
  `${'shape (m x k · k x n)'.padEnd(24)}${'native'.padStart(10)}${'ts'.padStart(10)}${'numpy'.padStart(10)}${'native/numpy'.padStart(14)}   GFLOP/s`,
);
for (const s of shapes) {
  const args = argsFor(s);
  let nativeBest: number | null = null;
  let numpyBest: number | null = null;
  if (native) bestSeconds(native.gemm, args, 2);
  for (let round = 0; round < ROUNDS; round++) {
    if (native) nativeBest = Math.min(nativeBest ?? Number.POSITIVE_INFINITY, bestSeconds(native.gemm, args, REPS));
    if (numpyAvailable) {
      const seconds = numpySeconds(s, REPS);
      if (seconds === null) numpyAvailable = false;
      else numpyBest = Math.min(numpyBest ?? Number.POSITIVE_INFINITY, seconds);
    }
  }
  const tsSeconds = flops(s) <= TS_MAX_FLOPS ? bestSeconds(gemmTs, args, 1) : null;

  const nativeRate = gflops(s, nativeBest);
  const numpyRate = gflops(s, numpyBest);
  const ratio = nativeRate !== null && numpyRate !== null ? nativeRate / numpyRate : null;
  if (s.headline && ratio !== null) headlineRatios.push(ratio);
  const tsCell = tsSeconds === null ? 'skipped'.padStart(10) : cell(gflops(s, tsSeconds), 10);
  console.log(
    `${s.label.padEnd(24)}${cell(nativeRate, 10)}${tsCell}${cell(numpyRate, 10)}${cell(ratio, 14, 2)}${tsSeconds === null ? '   (ts skipped: too slow at this size)' : ''}`,
  );
}
if (!numpyAvailable) console.log('numpy: python3 or numpy not available, no comparison');

const complete = headlineRatios.length === shapes.filter((s) => s.headline).length;
console.log(
  `gemm ratio vs numpy (min over sizes >= 1024): ${complete ? Math.min(...headlineRatios).toFixed(2) : 'n/a'}`,
);
