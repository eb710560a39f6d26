import { UsageError } from '../engine/errors.js';
import { loadDecoder } from '../io/checkpoint.js';
import { loadTokenizer } from '../io/tokenizer.js';
import { generate } from '../models/generate.js';
import { numberFlag, parseFlags, positiveIntFlag } from './args.js';

/** `lithe generate --model DIR --prompt TEXT [--max-tokens 64] [--temperature 0] [--top-k 0] [--top-p 1] [--seed 0]` */
export async function generateCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags('generate', argv, {
    model: { type: 'string' },
    prompt: { type: 'string' },
    'max-tokens': { type: 'string' },
    temperature: { type: 'string' },
    'top-k': { type: 'string' },
    'top-p': { type: 'string' },
    seed: { type: 'string' },
  });
  if (!values.model) throw new UsageError('generate: --model DIR is required');
  if (values.prompt === undefined) throw new UsageError('generate: --prompt TEXT is required');
  const model = await loadDecoder(values.model);
  const tokenizer = loadTokenizer(values.model);
  const prompt = tokenizer.encode(values.prompt, { addSpecialTokens: false });
  if (prompt.length === 0) throw new UsageError('generate: the prompt encodes to no tokens');
  const stop = tokenizer.eosTokenId === null ? [] : [tokenizer.eosTokenId];
  process.stdout.write(values.prompt);
  const emitted: number[] = [];
  let printed = '';
  generate(model, prompt, {
    maxNewTokens: positiveIntFlag('max-tokens', values['max-tokens'], 64),
    temperature: numberFlag('temperature', values.temperature, 0, 0, 100),
    topK: numberFlag('top-k', values['top-k'], 0, 0, Number.MAX_SAFE_INTEGER),
    topP: numberFlag('top-p', values['top-p'], 1, 0, 1),
    seed: numberFlag('seed', values.seed, 0, 0, 2 ** 32 - 1),
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
