import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { CORPUS_NAMES, DataError } from '../data/corpora.js';
import { formatDocuments, loadTextSource } from '../data/text-source.js';
import { UsageError } from '../engine/errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { parseFlags } from './args.js';

const USAGE = `usage: lithe data export --corpus NAME --out FILE (NAME: ${CORPUS_NAMES.join(', ')}, or a .txt/.jsonl file)`;

/** `lithe data export`: write a corpus split as plain text, documents separated by a blank line. */
export function data(argv: string[]): number {
  const [sub, ...rest] = argv;
  if (sub !== 'export')
    throw new UsageError(
      sub === undefined ? `data: missing subcommand; ${USAGE}` : `data: unknown subcommand '${sub}'; ${USAGE}`,
    );
  const { values } = parseFlags('data export', rest, { corpus: { type: 'string' }, out: { type: 'string' } });
  if (values.corpus === undefined || values.out === undefined)
    throw new UsageError(`data export: --corpus and --out are required; ${USAGE}`);
  const corpus = loadTextSource(values.corpus);
  const text = formatDocuments(corpus.documents);
  try {
    mkdirSync(dirname(values.out), { recursive: true });
    writeFileAtomic(values.out, text);
  } catch (err) {
    throw new DataError(
      `${values.out}: cannot write (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
  process.stdout.write(
    `wrote ${corpus.documents.length} documents (${text.length} characters) of ${corpus.name} to ${values.out}\n`,
  );
  return 0;
}
