import { setImmediate } from 'node:timers/promises';
import { OperationAbortedError } from './errors.js';

/** The one progress shape every long operation reports; the CLI draws it, a program may log it. */
export interface Progress {
  phase: string;
  done: number;
  total: number;
  unit: string;
  /** Units per second so far. */
  rate?: number;
  etaSeconds?: number;
}

export type OnProgress = (p: Progress) => void;

/** Reports done/total for a phase, adding rate and ETA from the elapsed wall time. */
export function progressReporter(onProgress: OnProgress | undefined, phase: string, total: number, unit: string) {
  const start = performance.now();
  return (done: number): void => {
    if (!onProgress) return;
    const seconds = (performance.now() - start) / 1000;
    const rate = seconds > 0 ? done / seconds : undefined;
    const etaSeconds = rate && rate > 0 ? (total - done) / rate : undefined;
    onProgress({ phase, done, total, unit, rate, etaSeconds });
  };
}

/** Throws an OperationAbortedError once signal has fired: a long operation checks it before starting and between steps. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new OperationAbortedError();
}

/** Let timers, I/O and signal handlers run between the steps of a long operation, then stop it if aborted. */
export async function yieldOrAbort(signal: AbortSignal | undefined): Promise<void> {
  await setImmediate();
  throwIfAborted(signal);
}
