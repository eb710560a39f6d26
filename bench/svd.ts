/**
 * lithe's SVD against PyTorch's on the workload of WeLore low-rank compression of llama-ref: the 56 decoder Linears
 * (8 blocks of q, o [384, 384], k, v [128, 384], gate, up [1024, 384], down [384, 1024]), as random normal f32
 * matrices. The work is what the low-rank code does: the singular values of all 56, a block (7 matrices) at a time,
 * then the thin SVD of all 56, a block at a time. PyTorch (torch.linalg.svdvals and torch.linalg.svd, f32 LAPACK, 2
 * threads) decomposes the same matrices in the same run, and numpy's f64 SVD of them checks lithe's singular values.
 * The two sides take turns, REPS rounds (LITHE_BENCH_REPS, default 5; a fresh Python process per round, warmed up
 * before it is timed), so that load from elsewhere on the machine falls on both alike. The ratio is of the minimum
 * times (load only adds); medians and CPU times (all threads) are printed next to them.
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
import { findPython, median } from './python.js';

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

/** One timed run of the workload by one side. */
interface Run {
  values: number;
  svd: number;
  cpu: number;
}

const total = (r: Run) => r.values + r.svd;
const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;

/** One run of lithe's workload, and the singular values it found (f64). */
function lithe(): [Run, Float64Array[]] {
  const cpu = process.cpuUsage();
  let start = process.hrtime.bigint();
  const found = blocks.flatMap((block) =>
    singularValuesMany(block, { dtype: 'f64' }).map((s) => s.floatData() as Float64Array),
  );
  const values = seconds(start);
  start = process.hrtime.bigint();
  for (const block of blocks) svdMany(block);
  const svd = seconds(start);
  const used = process.cpuUsage(cpu);
  return [{ values, svd, cpu: (used.user + used.system) / 1e6 }, found];
}

// argv: folder with a{i}.f32 (the matrices) and s{i}.f64 (lithe's singular values), shapes, whether to check.
const script = `
import json, sys, time
import numpy as np, torch
torch.set_num_threads(2)
folder, shapes, check = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3] == "1"
mats = [torch.from_numpy(np.fromfile(f"{folder}/a{i}.f32", dtype=np.float32).reshape(m, n)) for i, (m, n) in enumerate(shapes)]
torch.linalg.svdvals(mats[0]); torch.linalg.svd(mats[0], full_matrices=False)
c0 = time.process_time()
t0 = time.perf_counter()
for a in mats: torch.linalg.svdvals(a)
t1 = time.perf_counter()
for a in mats: torch.linalg.svd(a, full_matrices=False)
t2 = time.perf_counter()
cpu = time.process_time() - c0
err = None
if check:
    err = 0.0
    for i, a in enumerate(mats):
        want = np.linalg.svd(a.numpy().astype(np.float64), compute_uv=False)
        got = np.fromfile(f"{folder}/s{i}.f64", dtype=np.float64)
        err = max(err, float(np.max(np.abs(got - want)) / want[0]))
print(json.dumps({"values": t1 - t0, "svd": t2 - t1, "cpu": cpu, "err": err, "torch": torch.__version__}))
`;

interface TorchRun extends Run {
  err: number | null;
  torch: string;
}

const addon = loadNative().addon;
const engine =
  backendName() === 'native' && addon ? `native ${addon.simd()}, ${addon.threads()} threads` : 'TypeScript';
console.log(
  `SVD workload: llama-ref's ${BLOCKS * SHAPES.length} decoder Linears (random normal f32), singular values of all, ` +
    `then the thin SVD of all, ${SHAPES.length} matrices at a time; ${REPS} rounds, the two sides taking turns`,
);
const { python, reason } = findPython(['torch', 'numpy']);
const folder = mkdtempSync(join(tmpdir(), 'lithe-bench-svd-'));
const all = blocks.flat();
const shapes = JSON.stringify(all.map((t) => t.shape));
const litheRuns: Run[] = [];
const torchRuns: TorchRun[] = [];
try {
  all.forEach((t, i) => {
    writeFileSync(join(folder, `a${i}.f32`), t.floatData() as Float32Array);
  });
  for (let round = 0; round < REPS; round++) {
    const [run, found] = lithe();
    litheRuns.push(run);
    if (!python) continue;
    const check = round === REPS - 1;
    if (check) {
      found.forEach((s, i) => {
        writeFileSync(join(folder, `s${i}.f64`), s);
      });
    }
    const py = spawnSync(python, ['-c', script, folder, shapes, check ? '1' : '0'], {
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    });
    if (py.status !== 0) throw new Error(`pytorch run failed: ${py.stderr}`);
    torchRuns.push(JSON.parse(py.stdout.trim().split('\n').pop() ?? '{}') as TorchRun);
  }
} finally {
  rmSync(folder, { recursive: true, force: true });
}

/** min (with its parts), median and min CPU time of a side's runs. */
function summary(runs: Run[], valuesName: string, svdName: string): [string, number] {
  const totals = runs.map(total);
  const min = Math.min(...totals);
  const best = runs[totals.indexOf(min)];
  return [
    `min ${min.toFixed(3)} s (${valuesName} ${best.values.toFixed(3)} s + ${svdName} ${best.svd.toFixed(3)} s), ` +
      `median ${median(totals).toFixed(3)} s; CPU time min ${Math.min(...runs.map((r) => r.cpu)).toFixed(3)} s`,
    min,
  ];
}

const [litheLine, litheMin] = summary(litheRuns, 'values', 'svd');
console.log(`lithe (${engine}, f64): ${litheLine}`);
if (!python || torchRuns.length === 0) {
  console.log(`pytorch: skipped (${reason})`);
  console.log('svd ratio vs pytorch: n/a');
} else {
  const [torchLine, torchMin] = summary(torchRuns, 'svdvals', 'svd');
  console.log(`pytorch (torch ${torchRuns[0].torch}, f32, 2 threads): ${torchLine}`);
  const err = torchRuns[torchRuns.length - 1].err ?? Number.NaN;
  console.log(`lithe's singular values (f64) vs numpy's f64 SVD: max |σ − σ_numpy| / σ_max = ${err.toExponential(2)}`);
  console.log(`svd ratio vs pytorch: ${(litheMin / torchMin).toFixed(2)}`);
}
