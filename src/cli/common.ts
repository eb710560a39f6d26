import { resolveModelPath } from '../io/hf-cache.js';
import type { DecoderConfig } from '../models/llama/config.js';

/** A --model value as a directory: a path as given, or org/name from the local Hugging Face cache. */
export function resolveModel(spec: string, revision: string): string {
  return resolveModelPath(spec, { revision });
}

/**
 * Warn on stderr when a length goes past what the model was trained to attend to; returns the warning (for reports),
 * or undefined.
 */
export function warnPastContext(config: DecoderConfig, what: string, tokens: number): string | undefined {
  if (tokens <= config.maxPositionEmbeddings) return undefined;
  const warning = `${what} ${tokens} is past the model's context (max_position_embeddings ${config.maxPositionEmbeddings}); positions beyond it were never trained`;
  process.stderr.write(`lithe: warning: ${warning}\n`);
  return warning;
}

/** '1 window', '3 windows'. */
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** The command line as a shell would need it typed, for reports: arguments with spaces or quotes are quoted. */
export function commandLine(words: readonly string[]): string {
  return words.map((w) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`)).join(' ');
}
