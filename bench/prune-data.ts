/**
 * The fixed inputs of check:prune and bench:prune: a calibration file of 128 `{"text"}` lines from sotu:train,
 * each with at least 256 tokens (both tools keep each line's first seqlen tokens), and the sotu:test text.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatDocuments, loadTextSource } from '../src/data/text-source.js';
import type { LitheTokenizer } from '../src/io/tokenizer.js';
import { repoRoot } from './python.js';

export const MODEL_DIR = join(repoRoot, '..', 'shared', 'models', 'llama-ref');
export const NSAMPLES = 128;
export const SEQLEN = 256;
// Spare tokens past seqlen, so where a line is cut cannot change its first seqlen tokens.
const SPARE_TOKENS = 32;
const CHUNK_CHARS = 400;

/**
 * Write the calibration JSONL: line i comes from document ⌊i·D/128⌋ of sotu:train (D documents), starting at the
 * first word after its middle, grown CHUNK_CHARS at a time until it holds seqlen + SPARE_TOKENS tokens.
 */
export function writeCalibration(file: string, tokenizer: LitheTokenizer): void {
  const { documents } = loadTextSource('sotu:train');
  const lines: string[] = [];
  for (let i = 0; i < NSAMPLES; i++) {
    const doc = documents[Math.floor((i * documents.length) / NSAMPLES)];
    const start = doc.indexOf(' ', Math.floor(doc.length / 2)) + 1;
    let end = start;
    let text = '';
    do {
      if (end >= doc.length) throw new Error(`calibration: sotu:train document ${i} is too short`);
      end += CHUNK_CHARS;
      text = doc.slice(start, end);
    } while (tokenizer.encode(text).length < SEQLEN + SPARE_TOKENS);
    lines.push(JSON.stringify({ text }));
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
}

/** Write sotu:test as `lithe data export` does; returns the file's path. */
export function writeEvalText(dir: string): string {
  const file = join(dir, 'sotu-test.txt');
  writeFileSync(file, formatDocuments(loadTextSource('sotu:test').documents));
  return file;
}
