/**
 * lithe's SVD against PyTorch's on the workload of WeLore low-rank compression of llama-ref: the 56 decoder Linears
 * (8 blocks of q, o [384, 384], k, v [128, 384], gate, up [1024, 384], down [384, 1024]), as random normal f32
 * matrices. The work is what the low-rank code does: the singular values of all 56, a block (7 matrices) at a time,
 * then the thin SVD of all 56, a block at a time. PyTorch (torch.linalg.svdvals and torch.linalg.svd, f32 LAPACK, 2
 * threads) decomposes the same matrices in the same run; numpy's f64 SVD of them checks lithe's singular values.
 * Each side runs REPS times (LITHE_BENCH_REPS, default 5); the ratio is of the minimum times (load from elsewhere on
 * the machine only adds), the median is printed next to it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadNative } from '../src/backends/native/loader.js';
import { backendName } from '../src/backends/registry.js';
import { randn } from '../src/engine/create.js';
import { Rng } from '../src/engine/rng.js';
import type { Tensor } from '../src/engine/tensor.js';
import { singularValuesMany, svdMany } from '../src/linalg/index.js';
import { findPython } from './python.js';

const BLOCKS = 8;
const SHAPES: [string, number, number][] = [
  ['q', 384, 384],
  ['k', 128, 384],
  ['v', 128, 384],
  ['o', 384, 384],
  ['gate', 1024, 384],
  ['up', 1024, 384],
  ['down', 384, 1024],
];
const REPS = Number(process.env.LITHE_BENCH_REPS ?? 5);

const blocks: Tensor[][] = Array.from({ length: BLOCKS }, (_, b) =>
  SHAPES.map(([, m, n], i) => randn([m, n], { rng: new Rng(1000 * b + i + 1) })),
);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;

/** One run of the workload: [values seconds, svd seconds, the singular values of every matrix (f64), CPU seconds]. */
function lithe(): [number, number, Float64Array[], number] {
  const cpu = process.cpuUsage();
  let start = process.hrtime.bigint();
  const values = blocks.flatMap((block) =>
    singularValuesMany(block, { dtype: 'f64' }).map((s) => s.floatData() as Float64Array),
  );
  const valuesSeconds = seconds(start);
  start = process.hrtime.bigint();
  for (const block of blocks) svdMany(block);
  const svdSeconds = seconds(start);
  const used = process.cpuUsage(cpu);
  return [valuesSeconds, svdSeconds, values, (used.user + used.system) / 1e6];
}

const addon = loadNative().addon;
const engine =
  backendName() === 'native' && addon ? `native ${addon.simd()}, ${addon.threads()} threads` : 'TypeScript';
console.log(
  `SVD workload: llama-ref's ${BLOCKS * SHAPES.length} decoder Linears (random normal f32), singular values of all, ` +
    `then the thin SVD of all, ${SHAPES.length} matrices at a time; ${REPS} runs each`,
);
const runs = Array.from({ length: REPS }, lithe);
const totals = runs.map(([v, s]) => v + s);
const litheMin = Math.min(...totals);
const best = runs[totals.indexOf(litheMin)];
console.log(
  `lithe (${engine}, f64): min ${litheMin.toFixed(3)} s (values ${best[0].toFixed(3)} s + svd ${best[1].toFixed(3)} s), ` +
    `median ${median(totals).toFixed(3)} s; CPU time (all threads) min ${Math.min(...runs.map((r) => r[3])).toFixed(3)} s`,
);

const script = `
import json, sys, time
import numpy as np, torch
torch.set_num_threads(2)
folder, reps, shapes = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
mats = [torch.from_numpy(np.fromfile(f"{folder}/a{i}.f32", dtype=np.float32).reshape(m, n)) for i, (m, n) in enumerate(shapes)]
totals, parts, cpus = [], [], []
for _ in range(reps):
    c0 = time.process_time()
    t0 = time.perf_counter()
    for a in mats: torch.linalg.svdvals(a)
    t1 = time.perf_counter()
    for a in mats: torch.linalg.svd(a, full_matrices=False)
    t2 = time.perf_counter()
    totals.append(t2 - t0); parts.append((t1 - t0, t2 - t1)); cpus.append(time.process_time() - c0)
err = 0.0
for i, a in enumerate(mats):
    want = np.linalg.svd(a.numpy().astype(np.float64), compute_uv=False)
    got = np.fromfile(f"{folder}/s{i}.f64", dtype=np.float64)
    err = max(err, float(np.max(np.abs(got - want)) / want[0]))
print(json.dumps({"totals": totals, "parts": parts, "cpus": cpus, "err": err, "torch": torch.__version__}))
`;

const { python, reason } = findPython(['torch', 'numpy']);
if (!python) {
  console.log(`pytorch: skipped (${reason})`);
  console.log('svd ratio vs pytorch: n/a');
} else {
  const folder = mkdtempSync(join(tmpdir(), 'lithe-bench-svd-'));
  try {
    const all = blocks.flat();
    all.forEach((t, i) => {
      writeFileSync(join(folder, `a${i}.f32`), t.floatData() as Float32Array);
      writeFileSync(join(folder, `s${i}.f64`), best[2][i]);
    });
    const shapes = JSON.stringify(all.map((t) => t.shape));
    const run = spawnSync(python, ['-c', script, folder, String(REPS), shapes], {
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    });
    if (run.status !== 0) throw new Error(`pytorch run failed: ${run.stderr}`);
    const torchResult = JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}') as {
      totals: number[];
      parts: [number, number][];
      cpus: number[];
      err: number;
      torch: string;
    };
    const torchMin = Math.min(...torchResult.totals);
    const [tv, ts] = torchResult.parts[torchResult.totals.indexOf(torchMin)];
    console.log(
      `pytorch (torch ${torchResult.torch}, f32, 2 threads): min ${torchMin.toFixed(3)} s (svdvals ${tv.toFixed(3)} s + ` +
        `svd ${ts.toFixed(3)} s), median ${median(torchResult.totals).toFixed(3)} s; CPU time (all threads) min ` +
        `${Math.min(...torchResult.cpus).toFixed(3)} s`,
    );
    console.log(
      `lithe's singular values (f64) vs numpy's f64 SVD: max |σ − σ_numpy| / σ_max = ${torchResult.err.toExponential(2)}`,
    );
    console.log(`svd ratio vs pytorch: ${(litheMin / torchMin).toFixed(2)}`);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}
