import { lstatSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { CORPUS_NAMES } from '../data/corpora.js';
import { formatDocuments, loadTextSource } from '../data/text-source.js';
import { writeFileAtomic } from '../io/atomic.js';
import { OutputError } from '../io/errors.js';
import { plural } from './common.js';
import { type CommandSpec, parseCommand } from './flags.js';

export const dataExportSpec = {
  name: 'data export',
  summary: 'write a corpus split as plain text, documents separated by a blank line',
  usage: '--corpus SOURCE --out FILE',
  flags: {
    corpus: {
      kind: 'string',
      value: 'SOURCE',
      required: true,
      help: `${CORPUS_NAMES.join(', ')}, or a .txt or .jsonl file`,
    },
    out: {
      kind: 'string',
      value: 'FILE',
      required: true,
      help: 'the text file to write, atomically; it must not exist yet (lithe never replaces a file it did not write)',
    },
  },
  examples: ['lithe data export --corpus sotu:test --out sotu-test.txt'],
} as const satisfies CommandSpec;

/** `lithe data export`. */
export function dataExportCommand(argv: string[]): number {
  const values = parseCommand(dataExportSpec, argv);
  // A lone file carries no record of who wrote it, so any existing entry (a model's weights, the corpus itself) stays.
  if (lstatSync(values.out, { throwIfNoEntry: false }) !== undefined) {
    throw new OutputError(
      values.out,
      `data export: ${values.out} already exists; lithe does not replace a file it did not write`,
    );
  }
  const corpus = loadTextSource(values.corpus);
  const text = formatDocuments(corpus.documents);
  mkdirSync(dirname(values.out), { recursive: true });
  writeFileAtomic(values.out, text);
  process.stdout.write(
    `wrote ${plural(corpus.documents.length, 'document')} (${text.length} characters) of ${corpus.name} to ${values.out}\n`,
  );
  return 0;
}
