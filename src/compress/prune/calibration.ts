import { Rng } from '../../engine/rng.js';
import type { LitheTokenizer } from '../../io/tokenizer.js';
import { PruneError } from './errors.js';

export interface CorpusCalibrationOptions {
  /** Number of samples; default 128 (the papers). */
  nsamples?: number;
  /** Tokens per sample. */
  seqlen: number;
  /** Seed of the document and window choices; default 0 (the papers). */
  seed?: number;
}

export interface TextLinesCalibrationOptions {
  /** Tokens per sample: each line's first seqlen tokens. */
  seqlen: number;
}

function checkPositiveInteger(value: number, name: string, op: string): void {
  if (!Number.isInteger(value) || value <= 0)
    throw new PruneError(`${op}: ${name} must be a positive integer, got ${value}`);
}

/**
 * Calibration samples as Wanda draws them from C4: each sample is a random window of seqlen tokens from a
 * random document with more than seqlen tokens (encoded without special tokens). Each document is encoded once.
 * Returns nsamples arrays of seqlen token ids. The choices are uniform over the long documents, the same
 * distribution as the reference's rejection loop, though not its random sequence.
 */
export function corpusCalibration(
  tokenizer: LitheTokenizer,
  documents: readonly string[],
  options: CorpusCalibrationOptions,
): Int32Array[] {
  const { nsamples = 128, seqlen, seed = 0 } = options;
  checkPositiveInteger(nsamples, 'nsamples', 'corpusCalibration');
  checkPositiveInteger(seqlen, 'seqlen', 'corpusCalibration');
  const long = documents.map((doc) => tokenizer.encode(doc)).filter((ids) => ids.length > seqlen);
  if (long.length === 0) {
    throw new PruneError(
      `corpusCalibration: none of the ${documents.length} documents has more than seqlen = ${seqlen} tokens`,
    );
  }
  const rng = new Rng(seed);
  return Array.from({ length: nsamples }, () => {
    const ids = long[rng.int(long.length)];
    // As the reference: a start in [0, length − seqlen − 1], so the window never ends at the document's last token.
    const start = rng.int(ids.length - seqlen);
    return ids.slice(start, start + seqlen);
  });
}

/**
 * Calibration samples from task rows (JSONL `{"text"}`): one sample per line, its first seqlen tokens
 * (encoded without special tokens). A line with fewer tokens is an error naming its 1-based position in `lines`.
 */
export function textLinesCalibration(
  tokenizer: LitheTokenizer,
  lines: readonly string[],
  options: TextLinesCalibrationOptions,
): Int32Array[] {
  const { seqlen } = options;
  checkPositiveInteger(seqlen, 'seqlen', 'textLinesCalibration');
  if (lines.length === 0) throw new PruneError('textLinesCalibration: no lines');
  return lines.map((line, index) => {
    const ids = tokenizer.encode(line);
    if (ids.length < seqlen) {
      throw new PruneError(
        `textLinesCalibration: line ${index + 1} has ${ids.length} tokens, fewer than seqlen = ${seqlen}`,
      );
    }
    return ids.slice(0, seqlen);
  });
}
