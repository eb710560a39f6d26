/**
 * GaLore's and Q-GaLore's quality at lithe's scale: llama-ref's configuration (`--preset small`, its tokenizer from
 * ../shared/models/llama-ref) pre-trained from scratch on sotu:train + moby:train with AdamW, GaLore, Q-GaLore and
 * Q-GaLore rounding to nearest (and AdamW at GaLore's learning rate): the same data order, seed and token budget (400 steps of 8 × 256 tokens, 819,200
 * tokens), validation perplexity on sotu:val (32 windows of 256) every 25 steps. Each run goes to OUT/NAME (a run
 * that finished there already is reused, one with a checkpoint is resumed, any other restarted); then OUT/report.html holds the curves in one
 * chart and a table, which is also printed. Takes about 25 minutes a run on 2 cores (LITHE_THREADS as set).
 *
 *   npm run check:galore -- [--out DIR]   (default: galore-quality)
 *
 * Exits 0 with a note when ../shared is missing; 1 when a run fails.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../src/io/atomic.js';
import { htmlPage, htmlSection, htmlTable, lineChartSvg } from '../src/report/html.js';
import { MODEL_DIR } from './prune-data.js';
import { median, runResumable } from './python.js';

const COMMON = [
  '--tokenizer',
  MODEL_DIR,
  '--preset',
  'small',
  '--data',
  'sotu:train,moby:train',
  '--val',
  'sotu:val',
  '--seqlen',
  '256',
  '--batch',
  '8',
  '--steps',
  '400',
  '--eval-every',
  '25',
  '--eval-windows',
  '32',
  '--log-every',
  '25',
  '--checkpoint-every',
  '100',
  '--seed',
  '0',
];
const GALORE = ['--lr', '1e-2', '--galore-rank', '128', '--galore-gap', '50', '--galore-scale', '0.25'];
/** The runs, by directory name: the papers' learning rates (AdamW 1e-3; GaLore and Q-GaLore 1e-2, α 0.25), and a control. */
const RUNS: Record<string, { label: string; flags: string[] }> = {
  adamw: { label: 'AdamW', flags: ['--optimizer', 'adamw', '--lr', '1e-3'] },
  // A control: AdamW at GaLore's learning rate, to tell the optimiser apart from the learning rate.
  'adamw-lr1e-2': { label: 'AdamW at lr 1e-2', flags: ['--optimizer', 'adamw', '--lr', '1e-2'] },
  galore: { label: 'GaLore (rank 128, T 50)', flags: ['--optimizer', 'galore', ...GALORE] },
  qgalore: { label: 'Q-GaLore (int8 weights, int4 projections)', flags: ['--optimizer', 'qgalore', ...GALORE] },
  'qgalore-nearest': {
    label: 'Q-GaLore, rounding to nearest',
    flags: ['--optimizer', 'qgalore', ...GALORE, '--qgalore-rounding', 'nearest'],
  },
};
/** The run's stdout (the train command's result line, with Q-GaLore's SVD count), kept beside the run. */
const RESULT_FILE = (out: string, name: string) => join(out, `${name}.result.json`);

interface Metric {
  step: number;
  loss: number;
  tokensPerSecond?: number;
  valPerplexity?: number;
}

function metrics(out: string, name: string): Metric[] {
  const text = readFileSync(join(out, name, 'metrics.jsonl'), 'utf8');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Metric);
}

function main(): number {
  if (!existsSync(join(MODEL_DIR, 'tokenizer.json'))) {
    console.log(`skipped: ${MODEL_DIR} is not here`);
    return 0;
  }
  const outFlag = process.argv.indexOf('--out');
  const out = outFlag >= 0 ? process.argv[outFlag + 1] : 'galore-quality';
  mkdirSync(out, { recursive: true });
  for (const name of Object.keys(RUNS)) {
    runResumable(join(out, name), ['train', ...COMMON, ...RUNS[name].flags], RESULT_FILE(out, name));
  }

  const rows: (string | number)[][] = [];
  const series = [];
  const finals: Record<string, number> = {};
  for (const [name, { label }] of Object.entries(RUNS)) {
    const records = metrics(out, name);
    const evals = records.filter((r) => r.valPerplexity !== undefined);
    const final = evals[evals.length - 1].valPerplexity as number;
    finals[name] = final;
    const result = JSON.parse(readFileSync(RESULT_FILE(out, name), 'utf8').trim().split('\n').pop() ?? '{}');
    const speed = median(records.flatMap((r) => (r.tokensPerSecond ? [r.tokensPerSecond] : [])));
    rows.push([
      label,
      final.toFixed(2),
      Math.min(...evals.map((r) => r.valPerplexity as number)).toFixed(2),
      speed.toFixed(0),
      result.svds ?? '',
    ]);
    series.push({ name: label, points: evals.map((r) => [r.step, r.valPerplexity as number] as [number, number]) });
  }
  const headers = ['optimiser', 'final val ppl', 'best val ppl', 'median tokens/s', 'SVDs (Q-GaLore)'];
  console.log(`| ${headers.join(' | ')} |\n|${headers.map(() => '---').join('|')}|`);
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);
  const ratio = (a: string, b: string) => (finals[a] / finals[b]).toFixed(3);
  const summary =
    `galore vs adamw: ${ratio('galore', 'adamw')}, qgalore vs galore: ${ratio('qgalore', 'galore')}, ` +
    `qgalore nearest vs stochastic: ${ratio('qgalore-nearest', 'qgalore')}, galore vs adamw at lr 1e-2: ` +
    `${ratio('galore', 'adamw-lr1e-2')} (final validation perplexity ratios)`;
  console.log(summary);
  const chart = lineChartSvg({
    title: 'Validation perplexity (sotu:val), llama-ref configuration from scratch',
    xLabel: 'step (8 × 256 tokens each)',
    yLabel: 'perplexity',
    series: series.map((s) => ({ ...s, points: s.points.filter(([step]) => step >= 100) })),
  });
  const body = htmlSection('Curves (from step 100)', chart) + htmlSection('Table', htmlTable(headers, rows));
  writeFileAtomic(join(out, 'report.html'), htmlPage('lithe: GaLore and Q-GaLore quality', `${body}<p>${summary}</p>`));
  console.log(`wrote ${join(out, 'report.html')}`);
  return 0;
}

process.exitCode = main();
