import type { OnProgress } from '../engine/progress.js';

/**
 * What every workflow that turns a model into a new checkpoint with reports (oneshot pruning, low-rank
 * compression) takes besides its method's settings.
 */
export interface CheckpointJobOptions {
  /** A model directory, or org/name in the local Hugging Face cache. */
  model: string;
  /** Hugging Face cache revision (default main). */
  revision?: string;
  /** Perplexity before and after, measured as `lithe eval` does, the "after" on the checkpoint as written. */
  evaluate?: { data: string; seqlen?: number; windows?: number };
  /** Where the checkpoint and its reports go. */
  outputDir: string;
  /** Write into a non-empty directory that lithe did not write (still deleting nothing lithe did not write). */
  overwrite?: boolean;
  /** Storage dtype of the weights (default: the input's). */
  saveDtype?: 'f32' | 'bf16' | 'f16';
  /** Recorded in the report, e.g. the CLI's command line (default: the library call's name). */
  command?: string;
  /** Warnings the caller already gave (e.g. a length past the model's context), recorded in the report first. */
  warnings?: string[];
  onProgress?: OnProgress;
  signal?: AbortSignal;
}
