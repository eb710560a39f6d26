import { join } from 'node:path';
import { corpusCalibration } from '../compress/prune/calibration.js';
import { type PruneMethod, pruneModel } from '../compress/prune/pipeline.js';
import { loadTextSource } from '../data/text-source.js';
import { UsageError } from '../engine/errors.js';
import type { Progress } from '../engine/progress.js';
import { perplexity } from '../eval/perplexity.js';
import { loadDecoder, readDecoderConfig } from '../io/checkpoint.js';
import { withOutputDir } from '../io/output-dir.js';
import { loadTokenizer } from '../io/tokenizer.js';
import { EMBEDDED_MODEL_DIR, hasEmbeddedModel } from '../models/embedded.js';
import { type DemoReport, type DemoRow, demoReportHtml, demoSetting } from '../report/demo-report.js';
import { asUsage, parseFlags, positiveIntFlag } from './args.js';
import { evalTokens } from './eval.js';
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

/**
 * `lithe demo [--model DIR] [--out DIR] [--nsamples N] [--seqlen T] [--calib SOURCE] [--eval SOURCE] [--json]`:
 * prune the embedded model (or DIR) with every DEMO_CONFIGS setting, each from the dense weights with the
 * same calibration samples (default sotu:train), evaluate each on --eval (default sotu:test), print a table
 * and write OUT/report.html and OUT/results.json (default OUT: ./lithe-demo).
 */
export async function demo(argv: string[]): Promise<number> {
  const { values } = parseFlags('demo', argv, {
    model: { type: 'string' },
    out: { type: 'string' },
    nsamples: { type: 'string' },
    seqlen: { type: 'string' },
    calib: { type: 'string' },
    eval: { type: 'string' },
    json: { type: 'boolean' },
  });
  const modelDir = values.model ?? EMBEDDED_MODEL_DIR;
  if (!values.model && !hasEmbeddedModel()) {
    throw new UsageError(`demo: the embedded model is missing from ${EMBEDDED_MODEL_DIR}; pass --model DIR`);
  }
  const outDir = values.out ?? 'lithe-demo';
  const nsamples = positiveIntFlag('nsamples', values.nsamples, 128);
  const seqlen = positiveIntFlag('seqlen', values.seqlen, 256);
  const calibSource = values.calib ?? 'sotu:train';
  const evalSource = values.eval ?? 'sotu:test';
  const seed = 0;
  const start = performance.now();
  // A bad model directory fails here, before the calibration text is encoded.
  readDecoderConfig(modelDir);
  const tokenizer = loadTokenizer(modelDir);
  const samples = asUsage('demo', () =>
    corpusCalibration(tokenizer, loadTextSource(calibSource).documents, { nsamples, seqlen, seed }),
  );
  const evalIds = asUsage('demo', () => evalTokens(tokenizer, evalSource, false));
  if (evalIds.length <= seqlen) throw new UsageError(`demo: --eval ${evalSource} is shorter than one window`);

  const bar = stderrProgress();
  const runs = DEMO_CONFIGS.length + 1;
  const progressOf = (run: number, name: string) => (p: Progress) =>
    bar({ ...p, phase: `[${run}/${runs}] ${name}: ${p.phase}` });
  const dense = await loadDecoder(modelDir);
  const parameters = [...dense.namedParameters().values()].reduce((n, t) => n + t.size, 0);
  const densePerplexity = (await perplexity(dense, evalIds, { seqlen, onProgress: progressOf(1, 'dense') })).perplexity;

  const rows: DemoRow[] = [];
  for (const [i, config] of DEMO_CONFIGS.entries()) {
    const name = `${config.label} ${config.nm ? `${config.nm[0]}:${config.nm[1]}` : `${config.sparsity * 100}%`}`;
    const onProgress = progressOf(i + 2, name);
    const model = await loadDecoder(modelDir);
    const pruneStart = performance.now();
    const result = await pruneModel(model, {
      calibration: samples,
      method: config.method,
      sparsity: config.sparsity,
      nm: config.nm,
      allocation: config.allocation,
      onProgress,
    });
    const seconds = since(pruneStart);
    rows.push({
      label: config.label,
      method: config.method,
      allocation: config.allocation,
      nm: config.nm ? `${config.nm[0]}:${config.nm[1]}` : null,
      targetSparsity: result.targetSparsity,
      achievedSparsity: result.achievedSparsity,
      perplexity: (await perplexity(model, evalIds, { seqlen, onProgress })).perplexity,
      seconds,
    });
  }
  const report: DemoReport = {
    model: values.model ?? 'lithe-tiny (embedded)',
    parameters,
    calibration: { source: calibSource, nsamples: samples.length, seqlen, seed },
    eval: { source: evalSource, tokens: evalIds.length, seqlen },
    densePerplexity,
    rows,
    totalSeconds: since(start),
  };
  await withOutputDir(outDir, { what: '--out' }, (out) => {
    out.writeFile('results.json', `${JSON.stringify(report, null, 2)}\n`);
    out.writeFile('report.html', demoReportHtml(report));
  });
  if (values.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  else {
    process.stdout.write(demoTable(report));
    process.stdout.write(
      `\n${report.totalSeconds.toFixed(0)} s; wrote ${join(outDir, 'report.html')} and results.json\n`,
    );
  }
  return 0;
}
