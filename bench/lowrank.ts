/**
 * Low-rank compression time: `lithe lowrank --method welore --err 0.5` against the PyTorch reference
 * (tools/lowrank_reference.py: torch.linalg.svdvals for the τ search, then torch.linalg.svd of the reduced
 * matrices, 2 threads) on ../shared/models/llama-ref, no evaluation, both writing the factorised checkpoint.
 * Each side is timed as a whole process (start-up, loading, spectra, factorising, saving), the two alternating,
 * LITHE_BENCH_RUNS times each (default 3). The last line is `lowrank ratio vs pytorch: X.XX`: lithe's median
 * wall time over PyTorch's.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { MODEL_DIR } from './prune-data.js';
import { LITHE, median, referencePython, repoRoot, runJson } from './python.js';

const RUNS = Number(process.env.LITHE_BENCH_RUNS ?? 3);
const FLAGS = ['--method', 'welore', '--err', '0.5'];

interface Run {
  wall: number;
  /** The process's own spectra + factorise seconds, from its JSON. */
  inner: number;
}

function timedRun(command: string, args: string[]): Run {
  const start = performance.now();
  const { seconds } = runJson<{ seconds: Record<string, number> }>(command, args);
  return { wall: (performance.now() - start) / 1000, inner: seconds.spectra + seconds.factorise };
}

function main(): number {
  const python = referencePython(MODEL_DIR);
  if (!python) {
    console.log('lowrank ratio vs pytorch: n/a');
    return 0;
  }
  const work = mkdtempSync(join(tmpdir(), 'lithe-bench-lowrank-'));
  try {
    const out = join(work, 'lithe');
    const out2 = join(work, 'torch');
    console.log(`model: llama-ref; welore ERR 0.5; no evaluation; ${RUNS} runs each, alternating`);
    console.log('times are whole processes: start-up, loading, spectra, factorising, writing the checkpoint');
    console.log('pytorch: 2 threads, OMP_WAIT_POLICY=PASSIVE unless set');
    console.log(`load average before: ${loadavg()[0].toFixed(2)} (other processes on this CPU slow both sides)`);
    const lithe: Run[] = [];
    const torch: Run[] = [];
    for (let r = 0; r < RUNS; r++) {
      lithe.push(
        timedRun(process.execPath, [LITHE, 'lowrank', '--model', MODEL_DIR, '--out', out, ...FLAGS, '--json']),
      );
      rmSync(out, { recursive: true, force: true });
      torch.push(
        timedRun(python, [
          join(repoRoot, 'tools', 'lowrank_reference.py'),
          '--model',
          MODEL_DIR,
          ...FLAGS,
          '--threads',
          '2',
          '--out',
          out2,
        ]),
      );
      rmSync(out2, { recursive: true, force: true });
      console.error(`run ${r + 1}/${RUNS}: lithe ${lithe[r].wall.toFixed(1)} s, pytorch ${torch[r].wall.toFixed(1)} s`);
    }
    console.log('side       min s   median s   spectra+factorise s (median)');
    for (const [side, runs] of [
      ['lithe', lithe],
      ['pytorch', torch],
    ] as const) {
      const walls = runs.map((x) => x.wall);
      console.log(
        `${side.padEnd(8)} ${Math.min(...walls)
          .toFixed(1)
          .padStart(7)} ${median(walls).toFixed(1).padStart(10)}   ${median(runs.map((x) => x.inner))
          .toFixed(1)
          .padStart(8)}`,
      );
    }
    console.log(`load average after: ${loadavg()[0].toFixed(2)}`);
    const ratio = median(lithe.map((x) => x.wall)) / median(torch.map((x) => x.wall));
    console.log(`lowrank ratio vs pytorch: ${ratio.toFixed(2)}`);
    return 0;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

process.exit(main());
