import { lstatSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { CORPUS_NAMES } from '../data/corpora.js';
import { arithmeticPreferences, arithmeticSft, SPLITS } from '../data/preference.js';
import { formatDocuments, formatJsonl, loadTextSource } from '../data/text-source.js';
import { UsageError } from '../engine/errors.js';
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
  refuseExisting(values.out, 'data export');
  const corpus = loadTextSource(values.corpus);
  const text = formatDocuments(corpus.documents);
  writeNewFile(values.out, text);
  process.stdout.write(
    `wrote ${plural(corpus.documents.length, 'document')} (${text.length} characters) of ${corpus.name} to ${values.out}\n`,
  );
  return 0;
}

/** A lone file carries no record of who wrote it, so any existing entry (a model's weights, the corpus itself) stays. */
function refuseExisting(file: string, command: string): void {
  if (lstatSync(file, { throwIfNoEntry: false }) !== undefined) {
    throw new OutputError(file, `${command}: ${file} already exists; lithe does not replace a file it did not write`);
  }
}

/** Write text to a file that refuseExisting let through, atomically, making its directory. */
function writeNewFile(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileAtomic(file, text);
}

export const dataArithmeticSpec = {
  name: 'data arithmetic',
  summary: 'write worked arithmetic problems as SFT rows or preference pairs (JSONL), from a held-out split',
  usage: '--format sft|preference --n N [--ties F] [--seed S] [--split train|val|test] --out FILE.jsonl',
  flags: {
    format: {
      kind: 'choice',
      choices: ['sft', 'preference'],
      required: true,
      help: "sft: {prompt, completion} rows; preference: {prompt, chosen, rejected, tie} rows (TRL's shape)",
    },
    n: { kind: 'int', required: true, max: 10_000_000, help: 'rows to write' },
    ties: {
      kind: 'number',
      min: 0,
      max: 1,
      defaultText: '0',
      help:
        'with --format preference: the share of tie pairs (two correct solutions, or two equally wrong ones); ' +
        'the other pairs are a correct solution against one with a mistake',
    },
    seed: { kind: 'int', min: 0, default: 0, help: 'seed of the problems and the pairs' },
    split: {
      kind: 'choice',
      choices: SPLITS,
      default: 'train',
      help: 'problems by a hash of their question: test a tenth of them, val a tenth, train the rest (never shared)',
    },
    out: {
      kind: 'string',
      value: 'FILE',
      required: true,
      help: 'the JSONL file to write, atomically; it must not exist yet (lithe never replaces a file it did not write)',
    },
  },
  examples: [
    'lithe data arithmetic --format sft --n 2000 --out sft.jsonl',
    'lithe data arithmetic --format preference --n 2000 --ties 0.2 --seed 1 --out prefs.jsonl',
    'lithe data arithmetic --format preference --n 200 --ties 0.2 --split test --out prefs-test.jsonl',
  ],
} as const satisfies CommandSpec;

/** `lithe data arithmetic`. */
export function dataArithmeticCommand(argv: string[]): number {
  const values = parseCommand(dataArithmeticSpec, argv);
  if (values.ties !== undefined && values.format !== 'preference') {
    throw new UsageError('data arithmetic: --ties applies only to --format preference');
  }
  refuseExisting(values.out, 'data arithmetic');
  const { n, seed, split } = values;
  let rows: object[];
  let what: string;
  if (values.format === 'sft') {
    rows = arithmeticSft(n, { seed, split });
    what = plural(rows.length, 'SFT row');
  } else {
    const pairs = arithmeticPreferences(n, { seed, split, ties: values.ties });
    rows = pairs;
    what = `${plural(pairs.length, 'preference row')} (${plural(pairs.filter((p) => p.tie).length, 'tie')})`;
  }
  writeNewFile(values.out, formatJsonl(rows));
  process.stdout.write(`wrote ${what} of the ${split} split to ${values.out}\n`);
  return 0;
}
