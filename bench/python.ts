import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../src/io/atomic.js';

/** The repository root (benchmarks run from dist/bench/). */
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** The CLI entry point, run as `node LITHE ...` by the benchmarks and checks. */
export const LITHE = `${repoRoot}bin/lithe.js`;

/**
 * A Python that can import the given modules: $LITHE_PYTHON, else the repo's .venv, else python3.
 * Returns null (and the reason) when none can; the benchmark then skips its Python row.
 */
export function findPython(modules: string[]): { python: string | null; reason: string } {
  const candidates = [process.env.LITHE_PYTHON, `${repoRoot}.venv/bin/python`, 'python3'].filter(
    (p): p is string => typeof p === 'string' && (p === 'python3' || existsSync(p)),
  );
  for (const python of candidates) {
    const r = spawnSync(python, ['-c', `import ${modules.join(', ')}`], { encoding: 'utf8' });
    if (r.status === 0) return { python, reason: '' };
  }
  return { python: null, reason: `no python with ${modules.join(', ')} (set LITHE_PYTHON)` };
}

/** The median of a list (the mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Run a command that prints one JSON object on stdout; stderr (progress) is dropped unless it fails. */
export function runJson<T>(command: string, args: string[]): T {
  const run = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (run.status !== 0) throw new Error(`${command} ${args.join(' ')} failed:\n${run.stderr.slice(-4000)}`);
  return JSON.parse(run.stdout) as T;
}

/**
 * The Python a check against PyTorch runs (torch, transformers, safetensors), or null, after printing why the check
 * is skipped, when the model directory (../shared) or such a Python is missing.
 */
export function referencePython(modelDir: string): string | null {
  if (!existsSync(`${modelDir}/config.json`)) {
    console.log(`skipped: ${modelDir} is not here`);
    return null;
  }
  const { python, reason } = findPython(['torch', 'transformers', 'safetensors']);
  if (!python) console.log(`skipped: ${reason}`);
  return python;
}

/**
 * Run a lithe training command (`lithe train|align ... --out dir`) unless it already finished there (model/ and
 * resultFile exist): resumed when dir holds a checkpoint, started over when it holds anything else. Its stdout (the
 * result line) goes to resultFile.
 */
export function runResumable(dir: string, args: readonly string[], resultFile: string): void {
  if (existsSync(join(dir, 'model', 'config.json')) && existsSync(resultFile)) return;
  const resume = existsSync(join(dir, 'checkpoint')) ? ['--resume'] : existsSync(dir) ? ['--overwrite'] : [];
  console.log(`${args[0]} ${dir}${resume[0] === '--resume' ? ' (resuming)' : ''} ...`);
  const run = spawnSync(process.execPath, [LITHE, ...args, '--out', dir, ...resume], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (run.status !== 0) throw new Error(`lithe ${args[0]} --out ${dir} failed (exit ${run.status})`);
  writeFileAtomic(resultFile, run.stdout);
}
