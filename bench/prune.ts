/**
 * Pruning time: `lithe prune` against the PyTorch pipeline (tools/prune_pipeline.py, 2 threads) on
 * ../shared/models/llama-ref, Wanda and SparseGPT at 50%, with the same fixed calibration file (128 × 256 tokens of
 * sotu:train), no evaluation, in the same run. Each side is timed as a whole process: start-up, model loading,
 * calibration, pruning and writing the pruned checkpoint. REPEATS=n (default 1) alternates the two n times per
 * method and keeps each side's fastest run. The last line is `prune ratio vs pytorch: X.XX`: lithe's wall time
 * over PyTorch's, the worse of the two methods.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTokenizer } from '../src/io/tokenizer.js';
import { MODEL_DIR, NSAMPLES, SEQLEN, writeCalibration } from './prune-data.js';
import { findPython, repoRoot } from './python.js';

const REPEATS = Number(process.env.REPEATS ?? 1);
const GNU_TIME = '/usr/bin/time';

interface Run {
  wall: number;
  /** Peak resident set in MiB, when GNU time is there to measure it. */
  peakMiB: number | null;
  /** The process's own split: calibration (forward passes and statistics) and pruning seconds. */
  seconds: Record<string, number>;
}

/** Run a command to completion, timing the whole process; it prints one JSON object with `seconds`. */
function timedRun(command: string, args: string[]): Run {
  const gnuTime = existsSync(GNU_TIME);
  const [file, argv] = gnuTime ? [GNU_TIME, ['-f', 'peak-rss-kib=%M', command, ...args]] : [command, args];
  const start = performance.now();
  const run = spawnSync(file, argv, { encoding: 'utf8', maxBuffer: 1 << 26 });
  const wall = (performance.now() - start) / 1000;
  if (run.status !== 0) throw new Error(`${command} ${args.join(' ')} failed:\n${run.stderr.slice(-4000)}`);
  const rss = /peak-rss-kib=(\d+)/.exec(run.stderr);
  const { seconds } = JSON.parse(run.stdout) as { seconds: Record<string, number> };
  return { wall, peakMiB: rss ? Number(rss[1]) / 1024 : null, seconds };
}

const fastest = (runs: Run[]) => runs.reduce((a, b) => (b.wall < a.wall ? b : a));

function main(): void {
  if (!existsSync(join(MODEL_DIR, 'config.json'))) {
    console.log(`skipped: ${MODEL_DIR} is not here`);
    console.log('prune ratio vs pytorch: n/a');
    return;
  }
  const { python, reason } = findPython(['torch', 'transformers', 'safetensors']);
  if (!python) {
    console.log(`skipped: ${reason}`);
    console.log('prune ratio vs pytorch: n/a');
    return;
  }
  const work = mkdtempSync(join(tmpdir(), 'lithe-bench-prune-'));
  try {
    const calib = join(work, 'calib.jsonl');
    writeCalibration(calib, loadTokenizer(MODEL_DIR));
    const out = join(work, 'pruned');
    const common = ['--sparsity', '0.5', '--calib', calib, '--nsamples', String(NSAMPLES), '--seqlen', String(SEQLEN)];
    console.log(
      `model: llama-ref; calibration ${NSAMPLES} x ${SEQLEN} tokens; sparsity 0.5; no evaluation; best of ${REPEATS}`,
    );
    console.log(
      'times are whole processes: start-up, model loading, calibration, pruning, writing the pruned checkpoint',
    );
    console.log('pytorch: 2 threads; prune_pipeline.py sets OMP_WAIT_POLICY=PASSIVE unless it is set');
    console.log(`load average before: ${loadavg()[0].toFixed(2)} (other processes on this CPU slow both sides)`);
    console.log(
      'method      lithe s   torch s   ratio   lithe MiB   torch MiB   (calibration + pruning: lithe, torch)',
    );
    let worst = 0;
    for (const method of ['wanda', 'sparsegpt']) {
      const lithe: Run[] = [];
      const torch: Run[] = [];
      for (let r = 0; r < REPEATS; r++) {
        const flags = ['--method', method, ...common, '--out', out, '--json'];
        lithe.push(
          timedRun(process.execPath, [join(repoRoot, 'bin', 'lithe.js'), 'prune', '--model', MODEL_DIR, ...flags]),
        );
        rmSync(out, { recursive: true, force: true });
        torch.push(
          timedRun(python, [
            join(repoRoot, 'tools', 'prune_pipeline.py'),
            '--model',
            MODEL_DIR,
            ...flags,
            '--threads',
            '2',
          ]),
        );
        rmSync(out, { recursive: true, force: true });
      }
      const l = fastest(lithe);
      const t = fastest(torch);
      const ratio = l.wall / t.wall;
      worst = Math.max(worst, ratio);
      const mib = (run: Run) => (run.peakMiB === null ? '-' : run.peakMiB.toFixed(0)).padStart(9);
      const inner = (run: Run) => ((run.seconds.calibration ?? 0) + run.seconds.pruning).toFixed(1);
      console.log(
        `${method.padEnd(10)} ${l.wall.toFixed(1).padStart(8)} ${t.wall.toFixed(1).padStart(9)} ${ratio.toFixed(2).padStart(7)}   ${mib(l)}   ${mib(t)}   (${inner(l)} s, ${inner(t)} s)`,
      );
    }
    console.log(`load average after: ${loadavg()[0].toFixed(2)}`);
    console.log(`prune ratio vs pytorch: ${worst.toFixed(2)}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main();
