import { noGrad } from '../engine/autograd.js';
import { LitheError } from '../engine/errors.js';
import { type OnProgress, progressReporter, throwIfAborted, yieldOrAbort } from '../engine/progress.js';
import { Tensor } from '../engine/tensor.js';
import type { CausalLM } from '../models/causal-lm.js';
import { crossEntropy } from '../ops/loss.js';

export type { CausalLM };

export interface PerplexityOptions {
  /** Window length in tokens (default 256). */
  seqlen?: number;
  /** Windows per forward pass (default 4). */
  batchSize?: number;
  /** Score only the first N windows (default: all). */
  maxWindows?: number;
  onProgress?: OnProgress;
  /** Aborting stops between forward batches with an OperationAbortedError. */
  signal?: AbortSignal;
}

export interface PerplexityResult {
  perplexity: number;
  windows: number;
  /** Tokens evaluated: windows × seqlen. */
  tokens: number;
  seconds: number;
}

/** lossSum plus the mean next-token loss of each window w0 .. w0+n-1 (one forward pass), added in window order. */
function addWindowLosses(
  lossSum: number,
  model: CausalLM,
  ids: Int32Array,
  w0: number,
  n: number,
  seqlen: number,
): number {
  const batch = new Tensor(ids.slice(w0 * seqlen, (w0 + n) * seqlen), [n, seqlen], 'i32');
  const logits = model.forward(batch); // [n, T, V]
  // Position i predicts token i+1; the last position has no target and is ignored (no copy of the logits).
  const targetIds = new Int32Array(n * seqlen).fill(-100);
  for (let b = 0; b < n; b++) {
    targetIds.set(ids.subarray((w0 + b) * seqlen + 1, (w0 + b + 1) * seqlen), b * seqlen);
  }
  const targets = new Tensor(targetIds, [n * seqlen], 'i32');
  const perToken = crossEntropy(logits, targets, { reduction: 'none' }).floatData();
  let sum = lossSum;
  for (let b = 0; b < n; b++) {
    let s = 0;
    for (let i = 0; i < seqlen - 1; i++) s += perToken[b * seqlen + i];
    sum += s / (seqlen - 1);
  }
  return sum;
}

/**
 * Perplexity as Wanda and OWL measure it: cut the token stream into non-overlapping windows of
 * seqlen (dropping the remainder), take each window's mean next-token loss, and return
 * exp(mean over windows). Yields to the event loop after each forward batch.
 */
export async function perplexity(
  model: CausalLM,
  ids: Int32Array,
  options: PerplexityOptions = {},
): Promise<PerplexityResult> {
  const seqlen = options.seqlen ?? 256;
  const batchSize = options.batchSize ?? 4;
  if (!Number.isInteger(seqlen) || seqlen < 2) throw new LitheError(`seqlen must be an integer >= 2, got ${seqlen}`);
  const windows = Math.min(Math.floor(ids.length / seqlen), options.maxWindows ?? Number.POSITIVE_INFINITY);
  if (windows === 0) {
    throw new LitheError(`the text has ${ids.length} tokens, fewer than one window of ${seqlen}`);
  }
  const start = performance.now();
  const report = progressReporter(options.onProgress, 'eval', windows * seqlen, 'tok');
  let lossSum = 0;
  throwIfAborted(options.signal);
  for (let w0 = 0; w0 < windows; w0 += batchSize) {
    const n = Math.min(batchSize, windows - w0);
    lossSum = noGrad(() => addWindowLosses(lossSum, model, ids, w0, n, seqlen));
    report((w0 + n) * seqlen);
    await yieldOrAbort(options.signal);
  }
  return {
    perplexity: Math.exp(lossSum / windows),
    windows,
    tokens: windows * seqlen,
    seconds: (performance.now() - start) / 1000,
  };
}
