import { type ParseArgsConfig, parseArgs } from 'node:util';
import { PruneError } from '../compress/prune/errors.js';
import { DataError } from '../data/corpora.js';
import { UsageError } from '../engine/errors.js';

type OptionSpec = NonNullable<ParseArgsConfig['options']>;
type Parsed<T extends OptionSpec> = ReturnType<typeof parseArgs<{ options: T; strict: true; allowPositionals: false }>>;

/** Strict flag parsing: an unknown flag or a missing value is a UsageError (exit code 2). */
export function parseFlags<T extends OptionSpec>(command: string, argv: string[], options: T): Parsed<T> {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false });
  } catch (err) {
    const message = (err as Error).message.split('\n')[0].replace(/\. To specify a positional.*$/, '');
    throw new UsageError(`${command}: ${message}`);
  }
}

/** A flag as a positive integer, or a UsageError naming it. */
export function positiveIntFlag(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n <= 0) {
    throw new UsageError(`--${name} must be a positive integer, got '${value}'`);
  }
  return n;
}

/** A flag as a number in [min, max] (or [min, max) when maxInclusive is false), or a UsageError naming it. */
export function numberFlag(
  name: string,
  value: string | undefined,
  fallback: number,
  min = 0,
  max = Number.POSITIVE_INFINITY,
  maxInclusive = true,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  const ok = value.trim() !== '' && Number.isFinite(n) && n >= min && (maxInclusive ? n <= max : n < max);
  if (!ok)
    throw new UsageError(`--${name} must be a number in [${min}, ${max}${maxInclusive ? ']' : ')'}, got '${value}'`);
  return n;
}

/** Run fn, turning the data and pruning-argument errors it throws into usage errors (exit code 2). */
export function asUsage<T>(command: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof PruneError || err instanceof DataError) throw new UsageError(`${command}: ${err.message}`);
    throw err;
  }
}
