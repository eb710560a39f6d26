import type { ModuleSparsity, PruneResult } from '../compress/prune/pipeline.js';
import type { TaskFormat } from '../data/tasks.js';
import type { PerplexityRecord } from '../workflows/evaluate.js';
import { barChartSvg, formatPercent, formatSeconds, htmlFacts, htmlPage, htmlSection, htmlTable } from './html.js';
import { type RunInfo, runFacts } from './run-info.js';

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
  run: RunInfo;
  method: PruneResult['method'];
  allocation: PruneResult['allocation'];
  pattern: PruneResult['pattern'];
  nm: [number, number] | null;
  targetSparsity: number;
  /** Over all block Linears, skipped ones included. */
  achievedSparsity: number;
  /** Over the pruned Linears only. */
  prunedSparsity: number;
  blocks: PruneResult['blocks'];
  modules: ModuleSparsity[];
  /** The block Linears left dense by --skip. */
  skipped: ModuleSparsity[];
  calibration: CalibrationInfo | null;
  perplexity: PerplexityRecord | null;
  seconds: { calibration: number; pruning: number; eval: number };
}

export interface PruneReportExtras {
  /** Who made the report: lithe's version, the command or call, the model, the date. */
  run: RunInfo;
  calibration: CalibrationInfo | null;
  perplexity: PerplexityRecord | null;
  /** Seconds spent drawing the calibration samples (added to the pipeline's calibration passes). */
  samplingSeconds?: number;
  /** Seconds of the before and after perplexity runs together. */
  evalSeconds?: number;
}

/** A module's report entry, without the mask (the weights' zeros hold it). */
const moduleEntry = ({ name, shape, sparsity }: ModuleSparsity): ModuleSparsity => ({ name, shape, sparsity });

/** The report record of a pruning run (masks left out: they are in the weights' zeros). */
export function buildPruneReport(result: PruneResult, extras: PruneReportExtras): PruneReport {
  return {
    method: result.method,
    allocation: result.allocation,
    pattern: result.pattern,
    nm: result.nm,
    targetSparsity: result.targetSparsity,
    achievedSparsity: result.achievedSparsity,
    prunedSparsity: result.prunedSparsity,
    blocks: result.blocks.map(({ index, outlierRatio, targetSparsity, sparsity }) => ({
      index,
      outlierRatio,
      targetSparsity,
      sparsity,
    })),
    modules: result.modules.map(moduleEntry),
    skipped: result.skipped.map(moduleEntry),
    calibration: extras.calibration,
    perplexity: extras.perplexity,
    run: extras.run,
    seconds: {
      calibration: (extras.samplingSeconds ?? 0) + (result.seconds.calibration ?? 0),
      pruning: result.seconds.pruning,
      eval: extras.evalSeconds ?? 0,
    },
  };
}

/**
 * report.html: summary, per-block measured sparsity against the target (with OWL's per-block targets and outlier
 * ratios), perplexity, timings, and tables of the pruned and the dense-left modules.
 */
export function pruneReportHtml(report: PruneReport): string {
  const isOwl = report.blocks.some((b) => b.outlierRatio !== null);
  const pattern = report.nm ? `${report.nm[0]}:${report.nm[1]}` : report.pattern;
  const summary = htmlFacts([
    [
      'model',
      report.run.model === report.run.modelDir ? report.run.model : `${report.run.model} (${report.run.modelDir})`,
    ],
    ['method', report.method],
    ['allocation', report.allocation],
    ['pattern', pattern],
    ['target sparsity', formatPercent(report.targetSparsity)],
    ['achieved sparsity (all block Linears)', formatPercent(report.achievedSparsity)],
    ['sparsity of the pruned modules', formatPercent(report.prunedSparsity)],
    ['pruned modules', String(report.modules.length)],
    ['left dense', String(report.skipped.length)],
    [
      'calibration',
      report.calibration
        ? `${report.calibration.source} (${report.calibration.format}), ${report.calibration.nsamples} × ${report.calibration.seqlen} tokens, seed ${report.calibration.seed}`
        : 'none (not needed)',
    ],
    ...runFacts(report.run),
  ]);
  const chart = barChartSvg({
    title: isOwl ? 'Measured sparsity, OWL target and outlier ratio per block' : 'Measured sparsity per block',
    categories: report.blocks.map((b) => String(b.index)),
    bars: [
      { name: 'measured sparsity (%)', values: report.blocks.map((b) => b.sparsity * 100) },
      ...(isOwl ? [{ name: 'OWL block target (%)', values: report.blocks.map((b) => b.targetSparsity * 100) }] : []),
    ],
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
          'measured on',
          `${report.perplexity.protocol.data}: ${report.perplexity.protocol.windows} windows × ${report.perplexity.protocol.seqlen} = ${report.perplexity.protocol.tokens} tokens (lithe eval's protocol; "after" on the checkpoint as written)`,
        ],
        [
          'change',
          `${(((report.perplexity.after - report.perplexity.before) / report.perplexity.before) * 100).toFixed(1)}%`,
        ],
      ])
    : '<p>Not measured (run with --eval FILE|corpus:split).</p>';
  const timings = htmlFacts([
    ['calibration', formatSeconds(report.seconds.calibration)],
    ['pruning', formatSeconds(report.seconds.pruning)],
    ['eval', formatSeconds(report.seconds.eval)],
  ]);
  const moduleTable = (modules: ModuleSparsity[]) =>
    htmlTable(
      ['module', 'shape', 'sparsity'],
      modules.map((m) => [m.name, `${m.shape[0]} × ${m.shape[1]}`, formatPercent(m.sparsity)]),
    );
  return htmlPage(
    `lithe prune: ${report.method}, ${pattern === 'unstructured' ? formatPercent(report.targetSparsity) : pattern} ${report.allocation}`,
    [
      htmlSection('Summary', summary),
      htmlSection('Blocks', chart),
      htmlSection('Perplexity', perplexity),
      htmlSection('Timings', timings),
      htmlSection('Modules', moduleTable(report.modules)),
      ...(report.skipped.length > 0 ? [htmlSection('Left dense', moduleTable(report.skipped))] : []),
    ].join('\n'),
  );
}
