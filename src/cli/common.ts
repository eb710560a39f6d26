import { resolveModelPath } from '../io/hf-cache.js';
import type { DecoderConfig } from '../models/llama/config.js';

/** A --model value as a directory: a path as given, or org/name from the local Hugging Face cache. */
export function resolveModel(spec: string, revision: string): string {
  return resolveModelPath(spec, { revision });
}

/** Warn (once per flag, on stderr) when a length goes past what the model was trained to attend to. */
export function warnPastContext(config: DecoderConfig, flag: string, tokens: number): void {
  if (tokens > config.maxPositionEmbeddings) {
    process.stderr.write(
      `lithe: warning: --${flag} ${tokens} is past the model's context (max_position_embeddings ${config.maxPositionEmbeddings}); positions beyond it were never trained\n`,
    );
  }
}

/** The command line as a shell would need it typed, for reports: arguments with spaces or quotes are quoted. */
export function commandLine(words: readonly string[]): string {
  return words.map((w) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`)).join(' ');
}
