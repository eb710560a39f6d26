import { existsSync, readFileSync } from 'node:fs';
import { formatDocuments, loadTextSource } from '../data/text-source.js';
import type { OnProgress } from '../engine/progress.js';
import { type CausalLM, perplexity } from '../eval/perplexity.js';
import { loadDecoder } from '../io/checkpoint.js';
import { encodeDocuments, type LitheTokenizer } from '../io/tokenizer.js';

/**
 * The token stream to score. By default the whole text is encoded once without special tokens
 * (a .txt file as it is; a corpus or .jsonl as `lithe data export` writes it). With perDocument,
 * each document is encoded on its own and followed by EOS, as llama-ref's README measured.
 */
export function evalTokens(tokenizer: LitheTokenizer, spec: string, perDocument: boolean): Int32Array {
  if (!perDocument && spec.endsWith('.txt') && existsSync(spec)) {
    return tokenizer.encode(readFileSync(spec, 'utf8'), { addSpecialTokens: false });
  }
  const documents = loadTextSource(spec).documents;
  return perDocument
    ? encodeDocuments(tokenizer, documents)
    : tokenizer.encode(formatDocuments(documents), { addSpecialTokens: false });
}

/** How a perplexity was measured: `lithe eval`'s protocol, recorded beside every number it gives. */
export interface EvalProtocol {
  /** The text: a corpus split or a file. */
  data: string;
  /** Window length in tokens (lithe eval's default 256). */
  seqlen: number;
  /** Score only the first N windows (default: all). */
  windows?: number;
}

export interface MeasuredPerplexity {
  perplexity: number;
  seconds: number;
  /** The protocol, with the windows and tokens actually scored. */
  protocol: Required<EvalProtocol> & { tokens: number };
}

/** Perplexity under an EvalProtocol, returning the protocol as measured. */
export async function evaluatePerplexity(
  model: CausalLM,
  ids: Int32Array,
  protocol: EvalProtocol,
  options: { onProgress?: OnProgress; signal?: AbortSignal } = {},
): Promise<MeasuredPerplexity> {
  const result = await perplexity(model, ids, { seqlen: protocol.seqlen, maxWindows: protocol.windows, ...options });
  return {
    perplexity: result.perplexity,
    seconds: result.seconds,
    protocol: { data: protocol.data, seqlen: protocol.seqlen, windows: result.windows, tokens: result.tokens },
  };
}

/** Perplexity before and after a job, with how it was measured ("after" on the checkpoint as written). */
export interface PerplexityRecord {
  before: number;
  after: number;
  protocol: MeasuredPerplexity['protocol'];
}

/** What a job's `evaluate` option asks for: the token stream and how to score it. */
export interface JobEvaluation {
  ids: Int32Array;
  protocol: EvalProtocol;
}

/** The evaluation a job's `evaluate` option describes (lithe eval's defaults), or null when there is none. */
export function jobEvaluation(
  tokenizer: LitheTokenizer | null,
  evaluate: { data: string; seqlen?: number; windows?: number } | undefined,
): JobEvaluation | null {
  if (!evaluate || !tokenizer) return null;
  return {
    ids: evalTokens(tokenizer, evaluate.data, false),
    protocol: { data: evaluate.data, seqlen: evaluate.seqlen ?? 256, windows: evaluate.windows },
  };
}

type MeasureOptions = { onProgress?: OnProgress; signal?: AbortSignal };

/** A job's "before": the perplexity of the model as loaded, or null without an evaluation. */
export async function perplexityBefore(
  evaluation: JobEvaluation | null,
  model: CausalLM,
  options: MeasureOptions,
): Promise<MeasuredPerplexity | null> {
  return evaluation ? evaluatePerplexity(model, evaluation.ids, evaluation.protocol, options) : null;
}

/**
 * A job's "after", measured on the checkpoint as written in `dir` (bf16 weights for a bf16 save), not on the f32
 * copy in memory, with the before/after record and the seconds both took.
 */
export async function perplexityAfterSave(
  evaluation: JobEvaluation | null,
  dir: string,
  before: MeasuredPerplexity | null,
  options: MeasureOptions,
): Promise<{
  record: { before: number; after: number; protocol: MeasuredPerplexity['protocol'] } | null;
  seconds: number;
}> {
  if (!evaluation || !before) return { record: null, seconds: 0 };
  const saved = await loadDecoder(dir, { signal: options.signal });
  const after = await evaluatePerplexity(saved, evaluation.ids, evaluation.protocol, options);
  return {
    record: { before: before.perplexity, after: after.perplexity, protocol: after.protocol },
    seconds: before.seconds + after.seconds,
  };
}
