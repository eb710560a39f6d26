import { existsSync, readFileSync } from 'node:fs';
import { DataError } from '../data/corpora.js';
import { formatDocuments, loadTextSource } from '../data/text-source.js';
import { UsageError } from '../engine/errors.js';
import { type ChoiceItem, multipleChoice } from '../eval/multiple-choice.js';
import { perplexity } from '../eval/perplexity.js';
import { loadDecoder } from '../io/checkpoint.js';
import { encodeDocuments, type LitheTokenizer, loadTokenizer } from '../io/tokenizer.js';
import { parseFlags, positiveIntFlag } from './args.js';
import { stderrProgress } from './progress-bar.js';

/** Rows {context, choices[], answer} of a multiple-choice task file. */
export function readChoiceTask(file: string): ChoiceItem[] {
  if (!existsSync(file)) throw new DataError(`${file}: no such task file`);
  const items: ChoiceItem[] = [];
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (line.trim() === '') return;
      let row: unknown;
      try {
        row = JSON.parse(line);
      } catch {
        throw new DataError(`${file}:${i + 1}: not valid JSON`);
      }
      const r = row as Partial<ChoiceItem>;
      const valid =
        typeof r.context === 'string' &&
        Array.isArray(r.choices) &&
        r.choices.length > 0 &&
        r.choices.every((c) => typeof c === 'string') &&
        Number.isInteger(r.answer) &&
        (r.answer as number) >= 0 &&
        (r.answer as number) < r.choices.length;
      if (!valid)
        throw new DataError(
          `${file}:${i + 1}: expected {"context": string, "choices": [string, ...], "answer": index}`,
        );
      items.push(r as ChoiceItem);
    });
  if (items.length === 0) throw new DataError(`${file}: no task rows`);
  return items;
}

/**
 * The token stream to score. By default the whole text is encoded once without special tokens
 * (a .txt file as it is; a corpus or .jsonl as `lithe data export` writes it). With perDocument,
 * each document is encoded on its own and followed by EOS, as llama-ref's README measured.
 */
export function evalTokens(tokenizer: LitheTokenizer, spec: string, perDocument: boolean): Int32Array {
  if (!perDocument && spec.endsWith('.txt') && existsSync(spec)) {
    return tokenizer.encode(readFileSync(spec, 'utf8'), { addSpecialTokens: false });
  }
  const documents = loadTextSource(spec).documents;
  return perDocument
    ? encodeDocuments(tokenizer, documents)
    : tokenizer.encode(formatDocuments(documents), { addSpecialTokens: false });
}

/** `lithe eval --model DIR (--data FILE|corpus:split | --task FILE.jsonl) [--seqlen 256] [--batch 4] [--json]` */
export async function evalCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags('eval', argv, {
    model: { type: 'string' },
    data: { type: 'string' },
    task: { type: 'string' },
    seqlen: { type: 'string' },
    batch: { type: 'string' },
    'max-windows': { type: 'string' },
    json: { type: 'boolean' },
    'per-document': { type: 'boolean' },
  });
  if (!values.model) throw new UsageError('eval: --model DIR is required');
  if (!values.data === !values.task) throw new UsageError('eval: give exactly one of --data and --task');
  const seqlen = positiveIntFlag('seqlen', values.seqlen, 256);
  const batchSize = positiveIntFlag('batch', values.batch, 4);
  const maxWindows =
    values['max-windows'] === undefined ? undefined : positiveIntFlag('max-windows', values['max-windows'], 1);
  const model = await loadDecoder(values.model);
  const tokenizer = loadTokenizer(values.model);
  const onProgress = stderrProgress();
  if (values.task) {
    const result = await multipleChoice(model, tokenizer, readChoiceTask(values.task), { onProgress });
    const out = { acc: result.acc, acc_norm: result.accNorm, items: result.items, seconds: result.seconds };
    process.stdout.write(
      values.json
        ? `${JSON.stringify(out)}\n`
        : `acc ${out.acc.toFixed(4)}  acc_norm ${out.acc_norm.toFixed(4)}  (${out.items} items, ${out.seconds.toFixed(1)} s)\n`,
    );
    return 0;
  }
  const ids = evalTokens(tokenizer, values.data as string, values['per-document'] === true);
  const result = await perplexity(model, ids, { seqlen, batchSize, maxWindows, onProgress });
  if (values.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } else {
    process.stdout.write(
      `perplexity ${result.perplexity.toFixed(4)}  (${result.windows} windows × ${seqlen} = ${result.tokens} tokens, ${result.seconds.toFixed(1)} s, ${(result.tokens / result.seconds).toFixed(0)} tok/s)\n`,
    );
  }
  return 0;
}
