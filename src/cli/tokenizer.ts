import { DataError } from '../data/corpora.js';
import { loadTextSource } from '../data/text-source.js';
import { UsageError } from '../engine/errors.js';
import { BpeTrainingError, saveTokenizerJson, trainBpe } from '../tokenizer/bpe-trainer.js';
import { numberFlag, parseFlags, positiveIntFlag } from './args.js';
import { stderrProgress } from './progress-bar.js';

const USAGE =
  'usage: lithe tokenizer train --corpus SOURCE --vocab N --out DIR [--min-frequency K] [--special TOKEN]...';

/** Run fn, turning unloadable corpora and impossible training options into usage errors (exit code 2). */
function asUsage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof DataError || err instanceof BpeTrainingError) throw new UsageError(`tokenizer: ${err.message}`);
    throw err;
  }
}

/**
 * `lithe tokenizer train --corpus SOURCE --vocab N --out DIR [--min-frequency K] [--special TOKEN]...`: train a
 * byte-level BPE on a corpus split, .txt or .jsonl and write DIR/tokenizer.json. `--special` replaces the default
 * `<|endoftext|>`; repeat it for several.
 */
export function tokenizerCommand(argv: string[]): number {
  const [sub, ...rest] = argv;
  if (sub !== 'train') {
    throw new UsageError(
      sub === undefined
        ? `tokenizer: missing subcommand; ${USAGE}`
        : `tokenizer: unknown subcommand '${sub}'; ${USAGE}`,
    );
  }
  const { values } = parseFlags('tokenizer train', rest, {
    corpus: { type: 'string' },
    vocab: { type: 'string' },
    out: { type: 'string' },
    'min-frequency': { type: 'string' },
    special: { type: 'string', multiple: true },
  });
  if (values.corpus === undefined) throw new UsageError(`tokenizer train: --corpus SOURCE is required; ${USAGE}`);
  if (values.vocab === undefined) throw new UsageError(`tokenizer train: --vocab N is required; ${USAGE}`);
  if (values.out === undefined) throw new UsageError(`tokenizer train: --out DIR is required; ${USAGE}`);
  const vocabSize = positiveIntFlag('vocab', values.vocab, 0);
  const minFrequency = numberFlag('min-frequency', values['min-frequency'], 0);
  if (!Number.isInteger(minFrequency)) {
    throw new UsageError(`--min-frequency must be a non-negative integer, got '${values['min-frequency']}'`);
  }
  const specialTokens = values.special ?? ['<|endoftext|>'];
  const corpus = asUsage(() => loadTextSource(values.corpus as string));

  const start = performance.now();
  const tokenizer = asUsage(() =>
    trainBpe(corpus.documents, { vocabSize, minFrequency, specialTokens, onProgress: stderrProgress() }),
  );
  const seconds = (performance.now() - start) / 1000;
  const file = saveTokenizerJson(tokenizer, values.out);
  const { vocab, merges } = tokenizer.model;
  process.stdout.write(
    `trained ${Object.keys(vocab).length} tokens (${merges.length} merges) on ${corpus.name} (${corpus.documents.length} documents) in ${seconds.toFixed(1)}s; wrote ${file}\n`,
  );
  return 0;
}
