/** What check:lowrank and bench:lowrank share: lithe's report.json as they read it, and running `lithe lowrank`. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './python.js';

export interface LowrankReport {
  method: 'svd' | 'welore';
  targetErr: number;
  achievedErr: number;
  tau: number | null;
  minRatio: number;
  modules: { name: string; shape: [number, number]; rank: number; droppedFraction: number; stored: string }[];
  parameters: { before: number; after: number };
  perplexity: { before: number; after: number | null } | null;
  seconds: Record<string, number>;
}

export const LITHE = join(repoRoot, 'bin', 'lithe.js');

/** Null when this build of lithe has a `lowrank` command, else why not (its own words). */
export function lowrankMissing(): string | null {
  const run = spawnSync(process.execPath, [LITHE, 'lowrank', '--help'], { encoding: 'utf8' });
  return run.status === 0 ? null : `\`lithe lowrank\` is not available: ${(run.stderr || run.stdout).trim()}`;
}

/** Run a command that prints one JSON object on stdout; stderr (progress) is dropped unless it fails. */
export function runJson<T>(command: string, args: string[]): T {
  const run = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (run.status !== 0) throw new Error(`${command} ${args.join(' ')} failed:\n${run.stderr.slice(-4000)}`);
  return JSON.parse(run.stdout) as T;
}
