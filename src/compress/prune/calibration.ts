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
 * random document with more than seqlen tokens (encoded without special tokens). Documents are drawn
 * uniformly and redrawn while too short, as the reference's loop does, and each is encoded only when first
 * drawn, so a large corpus costs only the documents actually used. Returns nsamples arrays of seqlen ids.
 */
export function corpusCalibration(
  tokenizer: LitheTokenizer,
  documents: readonly string[],
  options: CorpusCalibrationOptions,
): Int32Array[] {
  const { nsamples = 128, seqlen, seed = 0 } = options;
  checkPositiveInteger(nsamples, 'nsamples', 'corpusCalibration');
  checkPositiveInteger(seqlen, 'seqlen', 'corpusCalibration');
  const encoded = new Map<number, Int32Array>();
  const encode = (i: number) => {
    let ids = encoded.get(i);
    if (!ids) encoded.set(i, (ids = tokenizer.encode(documents[i])));
    return ids;
  };
  // Settled once, so that the redraw loop below always ends.
  if (documents.length === 0 || !documents.some((_, i) => encode(i).length > seqlen)) {
    throw new PruneError(
      `corpusCalibration: none of the ${documents.length} documents has more than seqlen = ${seqlen} tokens`,
    );
  }
  const rng = new Rng(seed);
  return Array.from({ length: nsamples }, () => {
    let ids = encode(rng.int(documents.length));
    while (ids.length <= seqlen) ids = encode(rng.int(documents.length));
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
