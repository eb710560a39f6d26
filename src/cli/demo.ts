import { join } from 'node:path';
import { corpusCalibration } from '../compress/prune/calibration.js';
import { type PruneMethod, pruneModel } from '../compress/prune/pipeline.js';
import { loadTextSource } from '../data/text-source.js';
import { UsageError } from '../engine/errors.js';
import { ensureFits } from '../engine/memory.js';
import type { Progress } from '../engine/progress.js';
import { loadDecoder, readCheckedConfig, roundToStorage } from '../io/checkpoint.js';
import { withOutputDir } from '../io/output-dir.js';
import { checkTokenizerFits, loadTokenizer } from '../io/tokenizer.js';
import { EMBEDDED_MODEL_DIR, hasEmbeddedModel } from '../models/embedded.js';
import { calibrationBytes, parameterBytes } from '../models/llama/memory.js';
import { type DemoReport, type DemoRow, demoReportHtml, demoSetting } from '../report/demo-report.js';
import { runInfo } from '../report/run-info.js';
import { evalTokens, evaluatePerplexity } from '../workflows/evaluate.js';
import { commandLine, plural, resolveModel, warnPastContext } from './common.js';
import { type CommandSpec, EVAL_PROTOCOL_FLAGS, parseCommand } from './flags.js';
import { stderrProgress } from './progress-bar.js';

interface DemoConfig {
  label: string;
  method: PruneMethod;
  allocation: 'uniform' | 'owl';
  sparsity: number;
  nm?: [number, number];
}

/** The issue's comparison: five unstructured settings at 50% and 70%, then 2:4 for Wanda and SparseGPT. */
export const DEMO_CONFIGS: readonly DemoConfig[] = [
  ...[0.5, 0.7].flatMap((sparsity) => [
    { label: 'magnitude', method: 'magnitude' as const, allocation: 'uniform' as const, sparsity },
    { label: 'wanda', method: 'wanda' as const, allocation: 'uniform' as const, sparsity },
    { label: 'wanda+owl', method: 'wanda' as const, allocation: 'owl' as const, sparsity },
    { label: 'sparsegpt', method: 'sparsegpt' as const, allocation: 'uniform' as const, sparsity },
    { label: 'sparsegpt+owl', method: 'sparsegpt' as const, allocation: 'owl' as const, sparsity },
  ]),
  { label: 'wanda', method: 'wanda', allocation: 'uniform', sparsity: 0.5, nm: [2, 4] },
  { label: 'sparsegpt', method: 'sparsegpt', allocation: 'uniform', sparsity: 0.5, nm: [2, 4] },
];

const since = (start: number) => (performance.now() - start) / 1000;

/** A fixed-width text table of the demo's results, dense model first. */
export function demoTable(report: DemoReport): string {
  const header = `${'method'.padEnd(16)}${'sparsity'.padEnd(10)}${'achieved'.padStart(9)}${'perplexity'.padStart(12)}${'vs dense'.padStart(10)}`;
  const lines = [
    header,
    `${'dense'.padEnd(16)}${'0%'.padEnd(10)}${'0.0%'.padStart(9)}${report.densePerplexity.toFixed(2).padStart(12)}${'x1.00'.padStart(10)}`,
  ];
  for (const r of report.rows) {
    lines.push(
      `${r.label.padEnd(16)}${demoSetting(r).padEnd(10)}${`${(r.achievedSparsity * 100).toFixed(1)}%`.padStart(9)}${r.perplexity.toFixed(2).padStart(12)}${`x${(r.perplexity / report.densePerplexity).toFixed(2)}`.padStart(10)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

export const demoSpec = {
  name: 'demo',
  summary:
    'prune the embedded model (lithe-tiny) at 50% and 70% with magnitude, Wanda, Wanda+OWL, SparseGPT and ' +
    'SparseGPT+OWL, plus 2:4 Wanda and SparseGPT; prints a table and writes report.html and results.json',
  usage: '[flags]',
  flags: {
    model: {
      kind: 'string',
      value: 'DIR',
      defaultText: 'lithe-tiny (embedded)',
      help: 'model directory, or org/name in the Hugging Face cache',
    },
    revision: { kind: 'string', value: 'REV', default: 'main', help: 'Hugging Face cache revision of --model' },
    out: { kind: 'string', value: 'DIR', default: 'lithe-demo', help: 'where report.html and results.json go' },
    overwrite: { kind: 'boolean', help: 'write into a non-empty directory lithe did not write (deletes nothing)' },
    nsamples: { kind: 'int', default: 128, max: 1e7, help: 'calibration samples, shared by every setting' },
    seqlen: { kind: 'int', default: 256, max: 1 << 20, help: 'tokens per calibration sample' },
    calib: {
      kind: 'string',
      value: 'SOURCE',
      default: 'sotu:train',
      help: 'calibration text: a corpus, .txt or .jsonl',
    },
    eval: { kind: 'string', value: 'SOURCE', default: 'sotu:test', help: 'perplexity text' },
    ...EVAL_PROTOCOL_FLAGS,
    json: { kind: 'boolean', help: 'print the results as one JSON object' },
  },
  examples: ['npx lithe demo', 'lithe demo --out demo-llama --model ../shared/models/llama-ref --eval-windows 64'],
} as const satisfies CommandSpec;

/**
 * `lithe demo`: prune the embedded model (or --model) with every DEMO_CONFIGS setting, each from the dense weights
 * with the same calibration samples, evaluate each as `lithe eval` does, print a table and write report.html and
 * results.json. The output directory is checked and locked before any work.
 */
export async function demo(argv: string[]): Promise<number> {
  const values = parseCommand(demoSpec, argv);
  if (values.model === undefined && !hasEmbeddedModel()) {
    throw new UsageError(`demo: the embedded model is missing from ${EMBEDDED_MODEL_DIR}; pass --model DIR`);
  }
  const modelDir = values.model === undefined ? EMBEDDED_MODEL_DIR : resolveModel(values.model, values.revision);
  const { nsamples, seqlen } = values;
  const seed = 0;
  const start = performance.now();
  // A bad model directory fails here, before the calibration text is encoded.
  const config = readCheckedConfig(modelDir);
  const tokenizer = loadTokenizer(modelDir);
  checkTokenizerFits(tokenizer, config, modelDir);
  warnPastContext(config, '--seqlen', seqlen);
  warnPastContext(config, '--eval-seqlen', values['eval-seqlen']);
  ensureFits(
    2 * parameterBytes(config) + calibrationBytes(config, nsamples, seqlen, 'sparsegpt'),
    `demo: calibration with ${nsamples} samples × ${seqlen} tokens`,
  );
  const outOptions = { inputs: [modelDir], overwrite: values.overwrite, what: '--out', kind: 'demo' };
  return withOutputDir(values.out, outOptions, async (out) => {
    for (const name of ['results.json', 'report.html']) out.claim(name);
    const samples = corpusCalibration(tokenizer, loadTextSource(values.calib).documents, { nsamples, seqlen, seed });
    const evalIds = evalTokens(tokenizer, values.eval, false);
    const protocol = { data: values.eval, seqlen: values['eval-seqlen'], windows: values['eval-windows'] };

    const bar = stderrProgress();
    const runs = DEMO_CONFIGS.length + 1;
    const progressOf = (run: number, name: string) => (p: Progress) =>
      bar({ ...p, phase: `[${run}/${runs}] ${name}: ${p.phase}` });
    const dense = await loadDecoder(modelDir);
    const parameters = [...dense.namedParameters().values()].reduce((n, t) => n + t.size, 0);
    const denseResult = await evaluatePerplexity(dense, evalIds, protocol, { onProgress: progressOf(1, 'dense') });

    const rows: DemoRow[] = [];
    for (const [i, config] of DEMO_CONFIGS.entries()) {
      const name = `${config.label} ${config.nm ? `${config.nm[0]}:${config.nm[1]}` : `${config.sparsity * 100}%`}`;
      const onProgress = progressOf(i + 2, name);
      const model = await loadDecoder(modelDir);
      const pruneStart = performance.now();
      const result = await pruneModel(model, {
        method: config.method,
        sparsity: config.sparsity,
        nm: config.nm,
        allocation: config.allocation,
        calibration: samples,
        onProgress,
      });
      const seconds = since(pruneStart);
      // Measured on the weights as `lithe prune` would save them (bf16 for a bf16 model), so the two agree.
      roundToStorage(model);
      rows.push({
        label: config.label,
        method: config.method,
        allocation: config.allocation,
        nm: config.nm ? `${config.nm[0]}:${config.nm[1]}` : null,
        targetSparsity: result.targetSparsity,
        achievedSparsity: result.achievedSparsity,
        perplexity: (await evaluatePerplexity(model, evalIds, protocol, { onProgress })).perplexity,
        seconds,
      });
    }
    const report: DemoReport = {
      run: runInfo(commandLine(['lithe', 'demo', ...argv]), values.model ?? 'lithe-tiny (embedded)', modelDir),
      model: values.model ?? 'lithe-tiny (embedded)',
      parameters,
      calibration: { source: values.calib, nsamples: samples.length, seqlen, seed },
      eval: denseResult.protocol,
      densePerplexity: denseResult.perplexity,
      rows,
      totalSeconds: since(start),
    };
    out.writeFile('results.json', `${JSON.stringify(report, null, 2)}\n`);
    out.writeFile('report.html', demoReportHtml(report));
    if (values.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else {
      process.stdout.write(demoTable(report));
      process.stdout.write(
        `\nperplexity on ${protocol.data}: ${plural(report.eval.windows, 'window')} × ${protocol.seqlen} tokens\n${report.totalSeconds.toFixed(0)} s; wrote ${join(values.out, 'report.html')} and results.json\n`,
      );
    }
    return 0;
  });
}
