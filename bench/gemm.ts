/**
 * GEMM GFLOP/s: lithe native on every SIMD path this CPU runs, lithe TypeScript, and numpy with OpenBLAS restricted to
 * the matching kernel (OPENBLAS_CORETYPE), in the same run. Native and numpy alternate over a few rounds and each keeps
 * its best time, so that a burst of load from elsewhere on the machine does not decide the ratio.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
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
  /** B stored as n x k and used transposed (a Linear layer: C = X · Wᵀ). */
  transB?: boolean;
}

const shapes: Shape[] = [
  { label: '512 square', m: 512, k: 512, n: 512, headline: false },
  { label: '1024 square', m: 1024, k: 1024, n: 1024, headline: true },
  { label: '2048 square', m: 2048, k: 2048, n: 2048, headline: true },
  { label: '[4096x384]·[384x1024]', m: 4096, k: 384, n: 1024, headline: true },
  { label: '[4096x1024]·[1024x384]', m: 4096, k: 1024, n: 384, headline: true },
  // lithe-tiny (d = 192, MLP 512, vocabulary 4096) on 1024 tokens.
  { label: '[1024x192]·[192x512]', m: 1024, k: 192, n: 512, headline: false },
  { label: '[1024x512]·[512x192]', m: 1024, k: 512, n: 192, headline: false },
  { label: '[1024x192]·[192x4096]', m: 1024, k: 192, n: 4096, headline: false },
  // Decoding GEMV (m = 1) and a few rows at once (m = 4), through Linear layers (B transposed).
  { label: '[1x192]·[192x4096]ᵀ', m: 1, k: 192, n: 4096, headline: false, transB: true },
  { label: '[1x192]·[192x512]ᵀ', m: 1, k: 192, n: 512, headline: false, transB: true },
  { label: '[1x512]·[512x192]ᵀ', m: 1, k: 512, n: 192, headline: false, transB: true },
  { label: '[1x384]·[384x8192]ᵀ', m: 1, k: 384, n: 8192, headline: false, transB: true },
  { label: '[1x192]·[192x4096]', m: 1, k: 192, n: 4096, headline: false },
  { label: '[1x384]·[384x8192]', m: 1, k: 384, n: 8192, headline: false },
  { label: '[4x192]·[192x4096]ᵀ', m: 4, k: 192, n: 4096, headline: false, transB: true },
  { label: '[4x512]·[512x192]ᵀ', m: 4, k: 512, n: 192, headline: false, transB: true },
  { label: '[4x384]·[384x8192]ᵀ', m: 4, k: 384, n: 8192, headline: false, transB: true },
  { label: '[4x384]·[384x8192]', m: 4, k: 384, n: 8192, headline: false },
];

/** `--only REGEXP` keeps the shapes whose label matches (e.g. `--only '^\\[[14]x'` for the GEMV rows). */
const onlyAt = process.argv.indexOf('--only');
const only = onlyAt >= 0 ? process.argv[onlyAt + 1] : undefined;
const selected = only === undefined ? shapes : shapes.filter((s) => new RegExp(only).test(s.label));

/** The OpenBLAS kernel each lithe path is measured against; the portable path has no counterpart. */
const coreTypes: Record<string, string | undefined> = { avx512: 'SkylakeX', avx2: 'Haswell' };

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
    transB: s.transB ?? false,
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
    ldb: s.transB ? s.k : s.n,
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
m, k, n, reps, trans_b = map(int, sys.argv[1:6])
rng = np.random.default_rng(0)
a = rng.random((m, k), dtype=np.float32)
b = rng.random((n, k), dtype=np.float32).T if trans_b else rng.random((k, n), dtype=np.float32)
a @ b
best = float('inf')
for _ in range(reps):
    t = time.perf_counter()
    a @ b
    best = min(best, time.perf_counter() - t)
try:
    from threadpoolctl import threadpool_info
    blas = [i for i in threadpool_info() if i.get('internal_api') == 'openblas']
    kernel = f"{blas[0].get('architecture')} kernel, {blas[0].get('num_threads')} threads" if blas else 'not OpenBLAS'
except ImportError:
    kernel = 'unverified (no threadpoolctl)'
print(best)
print(kernel)
`;

// A local virtual environment (python3 -m venv .venv && .venv/bin/pip install numpy threadpoolctl) wins over python3.
const venvPython = new URL('../../.venv/bin/python', import.meta.url);
const python = existsSync(venvPython) ? venvPython.pathname : 'python3';

interface NumpyRun {
  seconds: number;
  /** What threadpoolctl says numpy ran: the OpenBLAS kernel and thread count. */
  kernel: string;
}

/** Best seconds per numpy matmul on OpenBLAS's `coreType` kernel, or null when python3 or numpy is unavailable. */
function numpySeconds(s: Shape, reps: number, coreType: string, threads: number): NumpyRun | null {
  const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_CORETYPE: coreType, OPENBLAS_NUM_THREADS: String(threads) };
  delete env.OPENBLAS_L2_SIZE;
  const run = spawnSync(
    python,
    ['-c', numpyScript, String(s.m), String(s.k), String(s.n), String(reps), s.transB ? '1' : '0'],
    {
      encoding: 'utf8',
      env,
    },
  );
  if (run.status !== 0) return null;
  const [time, kernel] = run.stdout.trim().split('\n');
  const seconds = Number.parseFloat(time);
  return Number.isFinite(seconds) ? { seconds, kernel: kernel ?? 'unverified' } : null;
}

const gflops = (s: Shape, seconds: number | null) => (seconds === null ? null : flops(s) / seconds / 1e9);
const cell = (x: number | null, width: number, digits = 1) => (x === null ? 'n/a' : x.toFixed(digits)).padStart(width);

const { addon, status } = loadNative();
const native = nativeKernelTable();
const paths = addon ? addon.gemmInfo().supported : [];
const threads = addon ? addon.threads() : 1;
if (addon) {
  const g = addon.gemmInfo();
  console.log(
    `lithe native: paths ${paths.join(', ')} (default ${g.simd}), ${threads} threads; ` +
      `caches L1d ${g.l1d >> 10} KiB, L2 ${g.l2 >> 10} KiB, L3 ${g.l3 >> 10} KiB per core (${g.cacheSource})`,
  );
} else {
  console.log(`lithe native: unavailable (${status.reason})`);
}

let numpyAvailable = true;
const kernelsSeen = new Map<string, Set<string>>();
const headlineRatios: number[] = [];
const tsRates = new Map<Shape, number | null>();
let headlineRows = 0;
console.log(
  `${'path'.padEnd(10)}${'shape (m x k · k x n)'.padEnd(24)}${'native'.padStart(10)}${'ts'.padStart(10)}${'numpy'.padStart(10)}${'native/numpy'.padStart(14)}   GFLOP/s`,
);
for (const path of paths.length ? paths : ['none']) {
  if (addon) addon.setSimd(path);
  const coreType = coreTypes[path];
  for (const s of selected) {
    const args = argsFor(s);
    let nativeBest: number | null = null;
    let numpyBest: number | null = null;
    if (native) bestSeconds(native.gemm, args, 2);
    for (let round = 0; round < ROUNDS; round++) {
      if (native) nativeBest = Math.min(nativeBest ?? Number.POSITIVE_INFINITY, bestSeconds(native.gemm, args, REPS));
      if (numpyAvailable && coreType !== undefined) {
        const run = numpySeconds(s, REPS, coreType, threads);
        if (run === null) numpyAvailable = false;
        else {
          numpyBest = Math.min(numpyBest ?? Number.POSITIVE_INFINITY, run.seconds);
          kernelsSeen.set(path, (kernelsSeen.get(path) ?? new Set()).add(run.kernel));
        }
      }
    }
    if (!tsRates.has(s)) tsRates.set(s, flops(s) <= TS_MAX_FLOPS ? gflops(s, bestSeconds(gemmTs, args, 1)) : null);
    const tsRate = tsRates.get(s) ?? null;

    const nativeRate = gflops(s, nativeBest);
    const numpyRate = gflops(s, numpyBest);
    const ratio = nativeRate !== null && numpyRate !== null ? nativeRate / numpyRate : null;
    if (s.headline && coreType !== undefined) {
      headlineRows++;
      if (ratio !== null) headlineRatios.push(ratio);
    }
    const tsCell = tsRate === null ? 'skipped'.padStart(10) : cell(tsRate, 10);
    console.log(
      `${path.padEnd(10)}${s.label.padEnd(24)}${cell(nativeRate, 10)}${tsCell}${cell(numpyRate, 10)}${cell(ratio, 14, 2)}${s.headline ? '' : '   (not in the ratio)'}${tsRate === null ? '   (ts skipped: too slow at this size)' : ''}`,
    );
  }
}
if (!numpyAvailable) console.log('numpy: python3 or numpy not available, no comparison');
for (const [path, seen] of kernelsSeen) {
  console.log(`numpy for ${path}: asked OpenBLAS for ${coreTypes[path]}, ran ${[...seen].join('; ')}`);
}
if (paths.includes('portable')) console.log('numpy for portable: no matching OpenBLAS kernel, not compared');

const complete = headlineRows > 0 && headlineRatios.length === headlineRows;
console.log(
  `gemm ratio vs numpy (min over sizes >= 1024): ${complete ? Math.min(...headlineRatios).toFixed(2) : 'n/a'}`,
);
