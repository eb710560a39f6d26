import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { corpusCalibration, textLinesCalibration } from '../compress/prune/calibration.js';
import { type PruneMethod, pruneModel } from '../compress/prune/pipeline.js';
import { calibrationExamples, readTaskTemplate, TASK_FORMATS, taskCalibration } from '../data/tasks.js';
import { loadTextSource, readSource } from '../data/text-source.js';
import { UsageError } from '../engine/errors.js';
import { perplexity } from '../eval/perplexity.js';
import { loadDecoder, readDecoderConfig, saveDecoder } from '../io/checkpoint.js';
import { type LitheTokenizer, loadTokenizer } from '../io/tokenizer.js';
import { buildPruneReport, type CalibrationInfo, pruneReportHtml } from '../report/prune-report.js';
import { asUsage, numberFlag, parseFlags, positiveIntFlag } from './args.js';
import { evalTokens } from './eval.js';
import { stderrProgress } from './progress-bar.js';

const METHODS: readonly PruneMethod[] = ['magnitude', 'wanda', 'sparsegpt'];
const ALLOCATIONS = ['uniform', 'owl'] as const;
const MAGNITUDE_GROUPS = ['row', 'layer'] as const;
// The papers' calibration length, capped by what the model can attend to.
const MAX_DEFAULT_SEQLEN = 2048;

/** Parse --nm 'N:M' (integers, 0 < N < M). */
export function parseNm(value: string): [number, number] {
  const match = /^(\d+):(\d+)$/.exec(value);
  const n = match ? Number(match[1]) : Number.NaN;
  const m = match ? Number(match[2]) : Number.NaN;
  if (!(n > 0 && n < m))
    throw new UsageError(`prune: --nm must be N:M with integers 0 < N < M (e.g. 2:4), got '${value}'`);
  return [n, m];
}

function oneOf<T extends string>(name: string, value: string | undefined, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`prune: --${name} must be one of ${allowed.join(', ')}, got '${value}'`);
  }
  return value as T;
}

/** True when a .jsonl file's first row is a task example ({question, answer}) rather than {text}. */
function isTaskFile(source: string): boolean {
  if (!source.toLowerCase().endsWith('.jsonl')) return false;
  const first = readSource(source)
    .split('\n')
    .find((line) => line.trim() !== '');
  try {
    return first !== undefined && typeof JSON.parse(first).question === 'string';
  } catch {
    return false;
  }
}

/**
 * Calibration samples. Task sources (`arithmetic`, or a .jsonl of {question, answer, rationale?}) are
 * laid out by --calib-format: plain; icl (k solved examples before each target); cot (icl with
 * the examples' rationales). Text sources give random windows (corpus, .txt) or the first nsamples
 * rows cut to seqlen tokens (.jsonl of {text}).
 */
function calibrationSamples(tokenizer: LitheTokenizer, info: CalibrationInfo, task: TaskOptions): Int32Array[] {
  if (info.source === 'arithmetic' || isTaskFile(info.source)) {
    const examples = calibrationExamples(info.source, { seed: info.seed });
    return taskCalibration(tokenizer, examples, {
      format: info.format === 'plain' ? 'plain' : 'icl',
      cot: info.format === 'cot',
      iclK: task.iclK,
      template: task.template,
      nsamples: info.nsamples,
      seqlen: info.seqlen,
      seed: info.seed,
    });
  }
  if (info.format !== 'plain') {
    throw new UsageError(
      `prune: --calib-format ${info.format} needs a task source (arithmetic or a .jsonl of questions)`,
    );
  }
  const { documents } = loadTextSource(info.source);
  if (info.source.toLowerCase().endsWith('.jsonl')) {
    return textLinesCalibration(tokenizer, documents.slice(0, info.nsamples), { seqlen: info.seqlen });
  }
  return corpusCalibration(tokenizer, documents, { nsamples: info.nsamples, seqlen: info.seqlen, seed: info.seed });
}

interface TaskOptions {
  iclK: number;
  template?: string;
}

/** Elapsed seconds since a performance.now() reading. */
const since = (start: number) => (performance.now() - start) / 1000;

/**
 * `lithe prune --model DIR --out DIR --method magnitude|wanda|sparsegpt --sparsity S [--nm N:M] [--group row|layer]
 *  [--allocation uniform|owl --owl-m M --owl-lambda L] [--skip GLOB]... [--calib SOURCE] [--nsamples N]
 *  [--seqlen T] [--seed K] [--eval FILE|corpus:split] [--json]`
 * Every input is checked (flags, then calibration and eval text) before the model's weights are loaded.
 */
export async function pruneCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags('prune', argv, {
    model: { type: 'string' },
    out: { type: 'string' },
    method: { type: 'string' },
    sparsity: { type: 'string' },
    nm: { type: 'string' },
    allocation: { type: 'string' },
    'owl-m': { type: 'string' },
    'owl-lambda': { type: 'string' },
    group: { type: 'string' },
    skip: { type: 'string', multiple: true },
    calib: { type: 'string' },
    'calib-format': { type: 'string' },
    'calib-template': { type: 'string' },
    'icl-k': { type: 'string' },
    nsamples: { type: 'string' },
    seqlen: { type: 'string' },
    seed: { type: 'string' },
    eval: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (!values.model) throw new UsageError('prune: --model DIR is required');
  if (!values.out) throw new UsageError('prune: --out DIR is required');
  if (!values.method) throw new UsageError(`prune: --method ${METHODS.join('|')} is required`);
  const method = oneOf('method', values.method, METHODS, 'wanda');
  const nm = values.nm === undefined ? undefined : parseNm(values.nm);
  if (values.sparsity === undefined && !nm) throw new UsageError('prune: --sparsity S (in [0, 1)) is required');
  const sparsity =
    nm && values.sparsity === undefined ? nm[0] / nm[1] : numberFlag('sparsity', values.sparsity, 0, 0, 1, false);
  if (nm && sparsity !== nm[0] / nm[1]) {
    throw new UsageError(
      `prune: --sparsity ${sparsity} contradicts --nm ${nm[0]}:${nm[1]} (which prunes ${nm[0] / nm[1]})`,
    );
  }
  const allocation = oneOf('allocation', values.allocation, ALLOCATIONS, 'uniform');
  const magnitudeGroup = oneOf('group', values.group, MAGNITUDE_GROUPS, 'row');
  if (values.group !== undefined && method !== 'magnitude') {
    throw new UsageError(
      'prune: --group applies to --method magnitude only (Wanda compares per row, SparseGPT per block)',
    );
  }
  if (nm && allocation !== 'uniform') throw new UsageError('prune: --nm needs --allocation uniform');
  const owlM = numberFlag('owl-m', values['owl-m'], 5, 0, Number.POSITIVE_INFINITY);
  const owlLambda = numberFlag('owl-lambda', values['owl-lambda'], 0.08, 0, 1, true);
  const nsamples = positiveIntFlag('nsamples', values.nsamples, 128);
  const calibFormat = oneOf('calib-format', values['calib-format'], TASK_FORMATS, 'plain');
  const iclK = values['icl-k'] === undefined ? 3 : numberFlag('icl-k', values['icl-k'], 3, 0, 64);
  if (!Number.isInteger(iclK)) throw new UsageError(`prune: --icl-k must be an integer, got '${values['icl-k']}'`);
  const template = values['calib-template'];
  const taskOptions: TaskOptions = {
    iclK,
    template: template === undefined ? undefined : asUsage('prune', () => readTaskTemplate(template)),
  };
  const seed = numberFlag('seed', values.seed, 0, 0, 2 ** 32, false);
  if (!Number.isInteger(seed)) throw new UsageError(`prune: --seed must be an integer, got '${values.seed}'`);
  if (!existsSync(values.model)) throw new UsageError(`prune: --model ${values.model}: no such directory`);
  if (resolve(values.out) === resolve(values.model)) {
    throw new UsageError('prune: --out must differ from --model (the input checkpoint is never overwritten)');
  }

  const config = readDecoderConfig(values.model);
  const seqlen = positiveIntFlag('seqlen', values.seqlen, Math.min(config.maxPositionEmbeddings, MAX_DEFAULT_SEQLEN));
  const tokenizer = loadTokenizer(values.model);
  const needsCalibration = method !== 'magnitude' || allocation === 'owl';
  const calibration: CalibrationInfo | null = needsCalibration
    ? { source: values.calib ?? 'sotu:train', format: calibFormat, nsamples, seqlen, seed }
    : null;
  const samplingStart = performance.now();
  const samples = calibration ? asUsage('prune', () => calibrationSamples(tokenizer, calibration, taskOptions)) : [];
  if (calibration) calibration.nsamples = samples.length;
  const samplingSeconds = since(samplingStart);
  const evalIds =
    values.eval === undefined ? null : asUsage('prune', () => evalTokens(tokenizer, values.eval as string, false));
  if (evalIds && evalIds.length < seqlen) {
    throw new UsageError(
      `prune: --eval ${values.eval} has ${evalIds.length} tokens, fewer than one window of ${seqlen}`,
    );
  }

  const onProgress = stderrProgress();
  const model = await loadDecoder(values.model, { onProgress });
  let evalSeconds = 0;
  const measure = async (phase: string) => {
    if (!evalIds) return Number.NaN;
    const result = await perplexity(model, evalIds, { seqlen, onProgress: (p) => onProgress({ ...p, phase }) });
    evalSeconds += result.seconds;
    return result.perplexity;
  };
  const before = await measure('eval before');
  // asUsage on the rejection: pruneModel's PruneErrors (bad pattern, skip glob) are usage errors.
  const result = await pruneModel(model, {
    calibration: samples,
    method,
    sparsity,
    nm,
    allocation,
    owlM,
    owlLambda,
    magnitudeGroup,
    skip: values.skip ?? [],
    onProgress,
  }).catch((err: unknown) =>
    asUsage('prune', () => {
      throw err;
    }),
  );
  const after = await measure('eval after');
  const report = buildPruneReport(result, {
    calibration,
    perplexity: evalIds ? { before, after } : null,
    samplingSeconds,
    evalSeconds,
  });
  await saveDecoder(model, values.out, {
    tokenizerFrom: values.model,
    inputs: [values.model],
    extraFiles: (out) => {
      out.writeFile('report.json', `${JSON.stringify(report, null, 2)}\n`);
      out.writeFile('report.html', pruneReportHtml(report));
    },
  });

  if (values.json) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } else {
    const ppl = report.perplexity
      ? `, perplexity ${report.perplexity.before.toFixed(3)} -> ${report.perplexity.after.toFixed(3)}`
      : '';
    process.stdout.write(
      `pruned ${report.modules.length} modules with ${method}: sparsity ${(report.achievedSparsity * 100).toFixed(2)}% (target ${(sparsity * 100).toFixed(2)}%)${ppl}\nwrote ${values.out} (report.json, report.html)\n`,
    );
  }
  return 0;
}
