import { existsSync, readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { fileErrorReason, jsonErrorMessage } from '../io/errors.js';
import { CORPUS_NAMES, type Corpus, DataError, loadCorpus } from './corpora.js';

/**
 * Documents from an embedded corpus name (see CORPUS_NAMES) or a user file:
 * - `.txt`: documents separated by blank lines (empty or whitespace-only); a file without one is one document.
 *   A document is its lines, each ending in a newline (so `a` and `a\n` read alike); whitespace-only documents are
 *   dropped. `formatDocuments` writes this format, and its output reads back as the same documents when each ends
 *   in a newline and none holds a blank line, as with the addresses.
 * - `.jsonl`: one `{"text": "..."}` object per line, one document per line, taken as is; blank lines are skipped.
 * Several sources joined by commas (`sotu:train,moby:train`) are one corpus, their documents in the order given, unless
 * the whole spec names an existing file. The corpus's name is the spec as given.
 */
export function loadTextSource(spec: string): Corpus {
  if (spec.includes(',') && !existsSync(spec)) {
    const parts = spec.split(',').map((part) => part.trim());
    if (parts.some((part) => part === '')) throw new DataError(`'${spec}' has an empty source between its commas`);
    return { name: spec, documents: parts.flatMap((part) => loadTextSource(part).documents) };
  }
  const ext = extname(spec).toLowerCase();
  if (ext === '.txt') return { name: spec, documents: splitDocuments(readSource(spec)) };
  if (ext === '.jsonl') return { name: spec, documents: parseJsonl(spec, readSource(spec)) };
  if (spec.includes(':') && !/[\\/]/.test(spec)) return loadCorpus(spec);
  throw new DataError(`'${spec}' is neither a corpus (${CORPUS_NAMES.join(', ')}) nor a .txt or .jsonl file`);
}

/** Documents as one .txt text: each ends in a newline (one is added where missing), then a blank line separates them. */
export function formatDocuments(documents: readonly string[]): string {
  return documents.map((doc) => (doc.endsWith('\n') ? doc : `${doc}\n`)).join('\n');
}

/** Rows as JSONL text: each one JSON object on its own line, every line ending in a newline. */
export function formatJsonl(rows: readonly object[]): string {
  return rows.map((row) => `${JSON.stringify(row)}\n`).join('');
}

/** Split a .txt file's text into documents at blank lines (see loadTextSource). */
export function splitDocuments(text: string): string[] {
  return text
    .replace(/\r\n?/g, '\n')
    .split(/\n(?:[ \t]*\n)+/)
    .filter((doc) => doc.trim() !== '')
    .map((doc) => `${doc.replace(/^\n+|\n+$/g, '')}\n`);
}

/** A text file's contents, or a DataError naming the file. */
export function readSource(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new DataError(`${file}: ${fileErrorReason(err)}`);
  }
}

function parseJsonl(file: string, text: string): string[] {
  const documents: string[] = [];
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (err) {
      throw new DataError(`${file}:${index + 1}: invalid JSON (${jsonErrorMessage(err)})`);
    }
    const value = (row as { text?: unknown } | null)?.text;
    if (typeof value !== 'string') throw new DataError(`${file}:${index + 1}: expected an object with a string "text"`);
    documents.push(value);
  });
  return documents;
}
