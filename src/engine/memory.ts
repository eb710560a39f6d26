import { totalmem } from 'node:os';
import { envValue } from './env.js';
import { EnvError, LitheError } from './errors.js';

/** A computation whose memory estimate exceeds the budget: refused up front instead of dying out of memory later. */
export class MemoryError extends LitheError {
  constructor(
    message: string,
    /** The estimate, in bytes. */
    readonly bytes: number,
    /** The budget it exceeds, in bytes. */
    readonly budget: number,
  ) {
    super(message);
  }
}

export interface FitOptions {
  /** Bytes allowed; default LITHE_MEMORY_LIMIT, else 90% of os.totalmem() (the OS and Node need the rest). */
  budget?: number;
}

/** Share of the machine's memory lithe plans to use when LITHE_MEMORY_LIMIT is unset. */
const DEFAULT_SHARE = 0.9;

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
const SUFFIX_POWER: Record<string, number> = { '': 0, k: 1, m: 2, g: 3, t: 4, p: 5 };

/** Bytes for people, in powers of 1024 (the unit LITHE_MEMORY_LIMIT's suffixes use): 1.2 TiB, 512 MiB. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}

/**
 * LITHE_MEMORY_LIMIT in bytes, or null when unset: a number of bytes, or a number with a suffix K, M, G, T or P
 * (powers of 1024, optionally followed by B or iB: `8G`, `1.5GiB`, `512M`). Anything else, or under 1 byte, is an
 * EnvError.
 */
export function memoryLimitFromEnv(): number | null {
  const value = envValue('LITHE_MEMORY_LIMIT');
  if (value === undefined) return null;
  const match = /^([0-9]+(?:\.[0-9]+)?)([kmgtp]?)(?:i?b)?$/i.exec(value);
  const bytes = match ? Math.floor(Number(match[1]) * 1024 ** SUFFIX_POWER[match[2].toLowerCase()]) : Number.NaN;
  if (!(bytes >= 1)) {
    throw new EnvError(
      'LITHE_MEMORY_LIMIT',
      value,
      'use a number of bytes, optionally with a suffix K, M, G, T or P (powers of 1024), e.g. 8G',
    );
  }
  return bytes;
}

/**
 * Refuse, with a MemoryError of one line, a computation whose estimated peak memory (`bytes`) exceeds the budget
 * (see FitOptions). `what` opens the message, e.g. 'train: one step at --batch 64 × --seqlen 256'.
 */
export function ensureFits(bytes: number, what: string, options: FitOptions = {}): void {
  const fromEnv = options.budget === undefined ? memoryLimitFromEnv() : null;
  const budget = options.budget ?? fromEnv ?? totalmem() * DEFAULT_SHARE;
  if (bytes <= budget) return;
  const limit =
    options.budget !== undefined
      ? `the budget of ${formatBytes(budget)}`
      : fromEnv !== null
        ? `LITHE_MEMORY_LIMIT=${envValue('LITHE_MEMORY_LIMIT')} (${formatBytes(budget)})`
        : `the ${formatBytes(budget)} lithe allows itself (${DEFAULT_SHARE * 100}% of this machine's ${formatBytes(totalmem())}; ` +
          'LITHE_MEMORY_LIMIT sets another limit)';
  throw new MemoryError(`${what} needs about ${formatBytes(bytes)}, more than ${limit}`, bytes, budget);
}
