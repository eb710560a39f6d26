import { existsSync, readFileSync } from 'node:fs';
import { formatDocuments, loadTextSource } from '../data/text-source.js';
import type { OnProgress } from '../engine/progress.js';
import { type CausalLM, perplexity } from '../eval/perplexity.js';
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
