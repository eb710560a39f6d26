import { UsageError } from '../engine/errors.js';
import { loadDecoder, readCheckedConfig } from '../io/checkpoint.js';
import { checkTokenizerFits, loadTokenizer } from '../io/tokenizer.js';
import { generate } from '../models/generate.js';
import { resolveModel, warnPastContext } from './common.js';
import { type CommandSpec, MODEL_FLAGS, parseCommand } from './flags.js';

export const generateSpec = {
  name: 'generate',
  summary: 'continue a prompt: greedy, or sampled with --temperature, --top-k and --top-p',
  usage: '--model DIR --prompt TEXT [flags]',
  flags: {
    ...MODEL_FLAGS,
    prompt: {
      kind: 'string',
      value: 'TEXT',
      default: '',
      defaultText: 'empty',
      allowEmpty: true,
      help: "the text to continue; empty starts from the tokenizer's BOS",
    },
    'max-tokens': { kind: 'int', default: 64, max: 1 << 20, help: 'new tokens to generate at most' },
    temperature: { kind: 'number', default: 0, min: 0, max: 100, help: '0 is greedy decoding' },
    'top-k': { kind: 'int', default: 0, min: 0, help: 'sample from the k most likely tokens only (0: no limit)' },
    'top-p': {
      kind: 'number',
      default: 1,
      min: 0,
      max: 1,
      help: 'sample from the smallest set of tokens whose probability reaches p (1: no limit)',
    },
    seed: { kind: 'int', default: 0, min: 0, max: 2 ** 32 - 1, help: 'sampling seed' },
    'no-special-tokens': {
      kind: 'boolean',
      help: "encode the prompt without the tokenizer's special tokens (by default BOS is added as transformers does)",
    },
  },
  examples: [
    "lithe generate --model models/lithe-tiny --prompt 'The state of the Union is'",
    "lithe generate --model models/lithe-tiny --prompt 'We will' --temperature 0.8 --top-p 0.9 --seed 1",
  ],
} as const satisfies CommandSpec;

/** `lithe generate`: every flag is checked and the model loaded before anything is printed. */
export async function generateCommand(argv: string[]): Promise<number> {
  const values = parseCommand(generateSpec, argv);
  const modelDir = resolveModel(values.model, values.revision);
  const config = readCheckedConfig(modelDir);
  const tokenizer = loadTokenizer(modelDir);
  checkTokenizerFits(tokenizer, config, modelDir);
  // The tokenizer's own post-processor decides the special tokens (BOS for LLaMA-style ones), as transformers does.
  let prompt = tokenizer.encode(values.prompt, { addSpecialTokens: !values['no-special-tokens'] });
  if (prompt.length === 0) {
    if (tokenizer.bosTokenId === null) {
      throw new UsageError('generate: the prompt is empty and the tokenizer has no BOS token to start from');
    }
    prompt = Int32Array.of(tokenizer.bosTokenId);
  }
  warnPastContext(
    config,
    `the prompt's ${prompt.length} tokens + --max-tokens ${values['max-tokens']} =`,
    prompt.length + values['max-tokens'],
  );
  const model = await loadDecoder(modelDir);
  const stop = tokenizer.eosTokenId === null ? [] : [tokenizer.eosTokenId];
  process.stdout.write(values.prompt);
  const emitted: number[] = [];
  let printed = '';
  generate(model, prompt, {
    maxNewTokens: values['max-tokens'],
    temperature: values.temperature,
    topK: values['top-k'],
    topP: values['top-p'],
    seed: values.seed,
    stopTokenIds: stop,
    onToken: (id) => {
      if (stop.includes(id)) return;
      // Decode the whole continuation each time so multi-byte characters print once complete.
      emitted.push(id);
      const text = tokenizer.decode(emitted, { skipSpecialTokens: true });
      if (!text.endsWith('\uFFFD')) {
        process.stdout.write(text.slice(printed.length));
        printed = text;
      }
    },
  });
  process.stdout.write('\n');
  return 0;
}
