import { loadTextSource } from '../data/text-source.js';
import { withOutputDir } from '../io/output-dir.js';
import { tokenizerJsonText, trainBpe } from '../tokenizer/bpe-trainer.js';
import { type CommandSpec, parseCommand } from './flags.js';
import { stderrProgress } from './progress-bar.js';

export const tokenizerTrainSpec = {
  name: 'tokenizer train',
  summary:
    "train a GPT-2-style byte-level BPE; writes DIR/tokenizer.json (Python tokenizers' BpeTrainer gives the same file)",
  usage: '--corpus SOURCE --vocab N --out DIR [flags]',
  flags: {
    corpus: {
      kind: 'string',
      value: 'SOURCE',
      required: true,
      help: 'sotu:train|val|test, moby:train|test, or a .txt or .jsonl file',
    },
    vocab: { kind: 'int', required: true, max: 1 << 22, help: 'vocabulary size, special tokens included' },
    out: {
      kind: 'string',
      value: 'DIR',
      required: true,
      help: "output directory (a model's tokenizer.json is never replaced: lithe did not write it)",
    },
    overwrite: { kind: 'boolean', help: 'write into a non-empty directory lithe did not write (replaces nothing)' },
    'min-frequency': { kind: 'int', default: 0, min: 0, help: 'merges of pairs seen fewer times are not learned' },
    special: {
      kind: 'string',
      value: 'TOKEN',
      multiple: true,
      help: 'special tokens, first ids (default <|endoftext|>; repeat for several)',
    },
  },
  examples: ['lithe tokenizer train --corpus sotu:train --vocab 8192 --out my-tokenizer'],
} as const satisfies CommandSpec;

/** `lithe tokenizer train`: the output directory is checked and locked before training starts. */
export async function tokenizerTrainCommand(argv: string[]): Promise<number> {
  const values = parseCommand(tokenizerTrainSpec, argv);
  const specialTokens = values.special.length > 0 ? values.special : ['<|endoftext|>'];
  const corpus = loadTextSource(values.corpus);
  return withOutputDir(values.out, { overwrite: values.overwrite, what: '--out', kind: 'tokenizer' }, (out) => {
    out.claim('tokenizer.json');
    const start = performance.now();
    const tokenizer = trainBpe(corpus.documents, {
      vocabSize: values.vocab,
      minFrequency: values['min-frequency'],
      specialTokens,
      onProgress: stderrProgress(),
    });
    const seconds = (performance.now() - start) / 1000;
    out.writeFile('tokenizer.json', tokenizerJsonText(tokenizer));
    const { vocab, merges } = tokenizer.model;
    process.stdout.write(
      `trained ${Object.keys(vocab).length} tokens (${merges.length} merges) on ${corpus.name} (${corpus.documents.length} documents) in ${seconds.toFixed(1)}s; wrote ${values.out}/tokenizer.json\n`,
    );
    return 0;
  });
}
