import type { PruneResult } from '../compress/prune/pipeline.js';
import type { TaskFormat } from '../data/tasks.js';
import { barChartSvg, htmlFacts, htmlPage, htmlSection, htmlTable } from './html.js';

/** Where the calibration samples came from; null in a report when the method needed none. */
export interface CalibrationInfo {
  /** The --calib spec: a corpus name or a .txt/.jsonl file. */
  source: string;
  /** --calib-format: plain, or for task sources icl (k solved examples first) or cot (icl with rationales). */
  format: TaskFormat;
  nsamples: number;
  seqlen: number;
  seed: number;
}

/** The record `lithe prune` writes to report.json and prints with --json. */
export interface PruneReport {
  method: PruneResult['method'];
  allocation: PruneResult['allocation'];
  pattern: PruneResult['pattern'];
  nm: [number, number] | null;
  targetSparsity: number;
  achievedSparsity: number;
  blocks: PruneResult['blocks'];
  modules: { name: string; shape: [number, number]; sparsity: number }[];
  calibration: CalibrationInfo | null;
  perplexity: { before: number; after: number } | null;
  seconds: { calibration: number; pruning: number; eval: number };
}

export interface PruneReportExtras {
  calibration: CalibrationInfo | null;
  perplexity: { before: number; after: number } | null;
  /** Seconds spent drawing the calibration samples (added to the pipeline's calibration passes). */
  samplingSeconds?: number;
  /** Seconds of the before and after perplexity runs together. */
  evalSeconds?: number;
}

/** The report record of a pruning run (masks left out: they are in the weights' zeros). */
export function buildPruneReport(result: PruneResult, extras: PruneReportExtras): PruneReport {
  return {
    method: result.method,
    allocation: result.allocation,
    pattern: result.pattern,
    nm: result.nm,
    targetSparsity: result.targetSparsity,
    achievedSparsity: result.achievedSparsity,
    blocks: result.blocks.map(({ index, outlierRatio, sparsity }) => ({ index, outlierRatio, sparsity })),
    modules: result.modules.map(({ name, shape, sparsity }) => ({ name, shape, sparsity })),
    calibration: extras.calibration,
    perplexity: extras.perplexity,
    seconds: {
      calibration: (extras.samplingSeconds ?? 0) + (result.seconds.calibration ?? 0),
      pruning: result.seconds.pruning,
      eval: extras.evalSeconds ?? 0,
    },
  };
}

const percent = (v: number) => `${(v * 100).toFixed(2)}%`;
const seconds = (s: number) => `${s.toFixed(2)} s`;

/** report.html: summary, per-block sparsity chart (with OWL's outlier ratios), perplexity, timings, module table. */
export function pruneReportHtml(report: PruneReport): string {
  const isOwl = report.blocks.some((b) => b.outlierRatio !== null);
  const pattern = report.nm ? `${report.nm[0]}:${report.nm[1]}` : report.pattern;
  const summary = htmlFacts([
    ['method', report.method],
    ['allocation', report.allocation],
    ['pattern', pattern],
    ['target sparsity', percent(report.targetSparsity)],
    ['achieved sparsity', percent(report.achievedSparsity)],
    ['pruned modules', String(report.modules.length)],
    [
      'calibration',
      report.calibration
        ? `${report.calibration.source} (${report.calibration.format}), ${report.calibration.nsamples} × ${report.calibration.seqlen} tokens, seed ${report.calibration.seed}`
        : 'none (not needed)',
    ],
  ]);
  const chart = barChartSvg({
    title: isOwl ? 'Sparsity and outlier ratio per block' : 'Sparsity per block',
    categories: report.blocks.map((b) => String(b.index)),
    bars: [{ name: 'block sparsity (%)', values: report.blocks.map((b) => b.sparsity * 100) }],
    yLabel: 'sparsity (%)',
    reference: { value: report.targetSparsity * 100, label: 'target (%)' },
    line: isOwl
      ? {
          name: 'outlier ratio (%)',
          axisLabel: 'outlier ratio (%)',
          values: report.blocks.map((b) => b.outlierRatio),
        }
      : undefined,
  });
  const perplexity = report.perplexity
    ? htmlFacts([
        ['before', report.perplexity.before.toFixed(3)],
        ['after', report.perplexity.after.toFixed(3)],
        [
          'change',
          `${(((report.perplexity.after - report.perplexity.before) / report.perplexity.before) * 100).toFixed(1)}%`,
        ],
      ])
    : '<p>Not measured (run with --eval FILE|corpus:split).</p>';
  const timings = htmlFacts([
    ['calibration', seconds(report.seconds.calibration)],
    ['pruning', seconds(report.seconds.pruning)],
    ['eval', seconds(report.seconds.eval)],
  ]);
  const modules = htmlTable(
    ['module', 'shape', 'sparsity'],
    report.modules.map((m) => [m.name, `${m.shape[0]} × ${m.shape[1]}`, percent(m.sparsity)]),
  );
  return htmlPage(
    `lithe prune: ${report.method}, ${pattern === 'unstructured' ? percent(report.targetSparsity) : pattern} ${report.allocation}`,
    [
      htmlSection('Summary', summary),
      htmlSection('Blocks', chart),
      htmlSection('Perplexity', perplexity),
      htmlSection('Timings', timings),
      htmlSection('Modules', modules),
    ].join('\n'),
  );
}
