import { existsSync, readFileSync } from 'node:fs';
import { DataError } from '../data/corpora.js';
import { extractAnswer, readPreferenceRows, readSftRows } from '../data/preference.js';
import { UsageError } from '../engine/errors.js';
import { ensureFits } from '../engine/memory.js';
import type { OnProgress } from '../engine/progress.js';
import { answerAccuracy } from '../eval/answer-accuracy.js';
import { type ChoiceItem, multipleChoice } from '../eval/multiple-choice.js';
import { perplexity } from '../eval/perplexity.js';
import { preferenceAccuracy } from '../eval/preference.js';
import { loadDecoder, readCheckedConfig } from '../io/checkpoint.js';
import { checkTokenizerFits, type LitheTokenizer, loadTokenizer } from '../io/tokenizer.js';
import { forwardBytes, parameterBytes } from '../models/llama/memory.js';
import { encodePreference } from '../train/preference.js';
import { evalTokens } from '../workflows/evaluate.js';
import { plural, resolveModel, warnPastContext } from './common.js';
import { type CommandSpec, type FlagValues, MODEL_FLAGS, parseCommand } from './flags.js';
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

export const evalSpec = {
  name: 'eval',
  summary:
    'perplexity (--data), multiple-choice accuracy (--task), preference accuracy (--preference) or answer accuracy (--answers)',
  usage: '--model DIR (--data SOURCE | --task FILE | --preference FILE [--ref DIR] | --answers FILE) [flags]',
  flags: {
    ...MODEL_FLAGS,
    data: {
      kind: 'string',
      value: 'SOURCE',
      help: 'text to score: sotu:train|val|test, moby:train|test, a .txt or a .jsonl of {"text"} rows',
    },
    task: {
      kind: 'string',
      value: 'FILE',
      help: 'multiple-choice rows {"context", "choices": [...], "answer": index}',
    },
    preference: {
      kind: 'string',
      value: 'FILE',
      help: 'held-out preference rows {"prompt", "chosen", "rejected", "tie"?}: DPO and TODO preference accuracy against --ref',
    },
    answers: {
      kind: 'string',
      value: 'FILE',
      help: 'held-out {"prompt", "completion"} rows (lithe data arithmetic --format sft): greedy answers checked against the final answer of each completion',
    },
    'max-new-tokens': {
      kind: 'int',
      default: 96,
      min: 1,
      max: 1 << 16,
      help: 'with --answers: tokens generated per problem',
    },
    'max-problems': { kind: 'int', min: 1, defaultText: 'all', help: 'with --answers: answer only the first N rows' },
    ref: {
      kind: 'string',
      value: 'DIR',
      defaultText: 'the --model (every margin is then 0)',
      help: 'with --preference: the reference model the policy was aligned against',
    },
    beta: { kind: 'number', min: 0, default: 0.1, help: 'with --preference: β of the margin d = β·Δ' },
    alpha: {
      kind: 'number',
      min: 0,
      default: 0.5,
      help: "with --preference: TODO's tie margin α of the three-way outcome",
    },
    'max-length': {
      kind: 'int',
      default: 512,
      min: 2,
      max: 1 << 16,
      help: 'with --preference: prompt plus answer tokens kept per sequence',
    },
    seqlen: { kind: 'int', default: 256, max: 1 << 20, help: 'window length in tokens (perplexity)' },
    batch: { kind: 'int', default: 4, max: 4096, help: 'windows per forward pass' },
    'max-windows': { kind: 'int', defaultText: 'all', help: 'score only the first N windows' },
    'per-document': {
      kind: 'boolean',
      help: 'encode each document on its own followed by EOS, instead of the whole text at once',
    },
    'per-item': {
      kind: 'boolean',
      help: "with --json: include each --task item's log-likelihoods and prediction, or each --answers output",
    },
    json: { kind: 'boolean', help: 'print the result as one JSON object' },
  },
  examples: [
    'lithe eval --model models/lithe-tiny --data sotu:test',
    'lithe eval --model models/lithe-tiny --task tasks.jsonl --json --per-item',
  ],
  notes: [
    'Perplexity: the text is encoded once without special tokens and cut into non-overlapping windows of --seqlen; ' +
      'the result is exp(mean window loss), as Wanda and OWL measure it. Multiple choice: acc and acc_norm ' +
      '(byte-length normalised) as lm-evaluation-harness computes them.',
  ],
} as const satisfies CommandSpec;

/** `lithe eval`: perplexity or multiple-choice accuracy. */
export async function evalCommand(argv: string[]): Promise<number> {
  const values = parseCommand(evalSpec, argv);
  const sources = (['data', 'task', 'preference', 'answers'] as const).filter((flag) => values[flag] !== undefined);
  if (sources.length !== 1)
    throw new UsageError('eval: give exactly one of --data, --task, --preference and --answers');
  for (const flag of ['ref', 'beta', 'alpha', 'max-length'] as const) {
    if (values.given.has(flag) && !values.preference) throw new UsageError(`eval: --${flag} goes with --preference`);
  }
  for (const flag of ['max-new-tokens', 'max-problems'] as const) {
    if (values.given.has(flag) && !values.answers) throw new UsageError(`eval: --${flag} goes with --answers`);
  }
  if (values['per-item'] && !((values.task || values.answers) && values.json))
    throw new UsageError('eval: --per-item goes with --task or --answers, and --json');
  const modelDir = resolveModel(values.model, values.revision);
  const config = readCheckedConfig(modelDir);
  const tokenizer = loadTokenizer(modelDir);
  const task = values.task === undefined ? null : readChoiceTask(values.task);
  const ids = values.data === undefined ? null : evalTokens(tokenizer, values.data, values['per-document']);
  if (ids) {
    warnPastContext(config, '--seqlen', values.seqlen);
    ensureFits(
      parameterBytes(config) + forwardBytes(config, values.batch, values.seqlen),
      `eval: a forward pass of --batch ${values.batch} × --seqlen ${values.seqlen}`,
    );
  }
  const onProgress = stderrProgress();
  if (values.preference) {
    // The policy and the reference, and one forward pass over a batch of pairs.
    ensureFits(
      2 * parameterBytes(config) + forwardBytes(config, 2 * values.batch, values['max-length']),
      `eval: --batch ${values.batch} pairs × --max-length ${values['max-length']} with two models`,
    );
    return evalPreference(values, modelDir, tokenizer, onProgress);
  }
  if (values.answers) return evalAnswers(values, modelDir, tokenizer, onProgress);
  const model = await loadDecoder(modelDir, { onProgress });
  checkTokenizerFits(tokenizer, model.config, modelDir);
  if (task) {
    const result = await multipleChoice(model, tokenizer, task, { onProgress });
    const out = {
      model: values.model,
      task: values.task,
      acc: result.acc,
      acc_norm: result.accNorm,
      items: result.items,
      seconds: result.seconds,
      ...(values['per-item'] ? { perItem: result.perItem } : {}),
    };
    process.stdout.write(
      values.json
        ? `${JSON.stringify(out)}\n`
        : `acc ${out.acc.toFixed(4)}  acc_norm ${out.acc_norm.toFixed(4)}  (${out.items} items, ${out.seconds.toFixed(1)} s)\n`,
    );
    return 0;
  }
  const result = await perplexity(model, ids as Int32Array, {
    seqlen: values.seqlen,
    batchSize: values.batch,
    maxWindows: values['max-windows'],
    onProgress,
  });
  if (values.json) {
    const protocol = {
      model: values.model,
      data: values.data,
      seqlen: values.seqlen,
      perDocument: values['per-document'],
    };
    process.stdout.write(`${JSON.stringify({ ...protocol, ...result })}\n`);
  } else {
    process.stdout.write(
      `perplexity ${result.perplexity.toFixed(4)}  (${plural(result.windows, 'window')} × ${values.seqlen} = ${result.tokens} tokens, ${result.seconds.toFixed(1)} s, ${(result.tokens / result.seconds).toFixed(0)} tok/s)\n`,
    );
  }
  return 0;
}

/** `lithe eval --preference`: DPO's and TODO's preference accuracy of --model against --ref on held-out pairs. */
async function evalPreference(
  values: FlagValues<typeof evalSpec.flags>,
  modelDir: string,
  tokenizer: LitheTokenizer,
  onProgress: OnProgress,
): Promise<number> {
  const rows = readPreferenceRows(values.preference as string);
  const refDir = values.ref === undefined ? modelDir : resolveModel(values.ref, values.revision);
  const model = await loadDecoder(modelDir, { onProgress });
  checkTokenizerFits(tokenizer, model.config, modelDir);
  const reference = refDir === modelDir ? model : await loadDecoder(refDir, { onProgress });
  checkTokenizerFits(tokenizer, reference.config, refDir);
  const pairs = rows.map((row) => encodePreference(tokenizer, row));
  const start = performance.now();
  const result = await preferenceAccuracy(model, reference, pairs, {
    beta: values.beta,
    alpha: values.alpha,
    batchSize: values.batch,
    maxLength: values['max-length'],
    onProgress,
  });
  const seconds = (performance.now() - start) / 1000;
  const out = {
    model: values.model,
    ref: values.ref ?? values.model,
    preference: values.preference,
    ...result,
    seconds,
  };
  const fixed = (x: number) => (Number.isNaN(x) ? 'n/a' : x.toFixed(4));
  process.stdout.write(
    values.json
      ? `${JSON.stringify(out)}\n`
      : `preference accuracy ${fixed(result.accuracy)}  three-way ${fixed(result.threeWayAccuracy)}  ties ${fixed(result.tieAccuracy)}  margin ${fixed(result.meanRewardMargin)}  (${plural(result.pairs, 'pair')}, ${result.ties} ties, ${seconds.toFixed(1)} s)\n`,
  );
  return 0;
}

/** `lithe eval --answers`: greedy answers to held-out problems, checked against each completion's final answer. */
async function evalAnswers(
  values: FlagValues<typeof evalSpec.flags>,
  modelDir: string,
  tokenizer: LitheTokenizer,
  onProgress: OnProgress,
): Promise<number> {
  const file = values.answers as string;
  const rows = readSftRows(file).slice(0, values['max-problems']);
  const problems = rows.map((row, i) => {
    const answer = extractAnswer(row.completion);
    if (answer === null)
      throw new DataError(`${file}:${i + 1}: the completion states no final answer ("So the answer is N.")`);
    return { prompt: row.prompt, answer };
  });
  const model = await loadDecoder(modelDir, { onProgress });
  checkTokenizerFits(tokenizer, model.config, modelDir);
  const start = performance.now();
  const result = await answerAccuracy(model, tokenizer, problems, {
    maxNewTokens: values['max-new-tokens'],
    onProgress,
  });
  const seconds = (performance.now() - start) / 1000;
  const { samples, ...counts } = result;
  const out = { model: values.model, answers: file, ...counts, seconds, ...(values['per-item'] && { samples }) };
  process.stdout.write(
    values.json
      ? `${JSON.stringify(out)}\n`
      : `answer accuracy ${result.accuracy.toFixed(4)}  (${result.correct} of ${plural(result.total, 'problem')}, ${seconds.toFixed(1)} s)\n`,
  );
  return 0;
}
