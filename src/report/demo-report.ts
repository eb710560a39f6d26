import { barChartSvg, htmlFacts, htmlPage, htmlSection, htmlTable } from './html.js';
import { type RunInfo, runFacts } from './run-info.js';

/** One pruned configuration of the demo and what it gave. */
export interface DemoRow {
  /** e.g. 'wanda+owl'. */
  label: string;
  method: 'magnitude' | 'wanda' | 'sparsegpt';
  allocation: 'uniform' | 'owl';
  /** '2:4' or null for unstructured. */
  nm: string | null;
  targetSparsity: number;
  achievedSparsity: number;
  perplexity: number;
  /** Calibration + pruning (evaluation excluded). */
  seconds: number;
}

export interface DemoReport {
  run: RunInfo;
  model: string;
  parameters: number;
  calibration: { source: string; nsamples: number; seqlen: number; seed: number };
  /** lithe eval's protocol: the text, window length, windows and tokens scored. */
  eval: { data: string; seqlen: number; windows: number; tokens: number };
  densePerplexity: number;
  rows: DemoRow[];
  totalSeconds: number;
}

const percent = (v: number) => `${(v * 100).toFixed(1)}%`;

/** The pattern column: N:M, or the unstructured target. */
export function demoSetting(row: DemoRow): string {
  return row.nm ?? percent(row.targetSparsity);
}

/** One self-contained page comparing every configuration's perplexity against the dense model. */
export function demoReportHtml(report: DemoReport): string {
  const category = (r: DemoRow) => (r.nm ? `${r.label} ${r.nm}` : r.label);
  const labels = [...new Set(report.rows.map(category))];
  const settings = [...new Set(report.rows.filter((r) => !r.nm).map((r) => r.targetSparsity))];
  // N:M rows have one setting, drawn in the first series.
  const perplexityAt = (label: string, sparsity: number) =>
    report.rows.find((r) => category(r) === label && (r.nm ? sparsity === settings[0] : r.targetSparsity === sparsity))
      ?.perplexity ?? null;
  // Clip the axis so that the 50% bars stay readable; the table and tooltips give every exact value.
  const lowest = report.rows.filter((r) => r.targetSparsity === settings[0]).map((r) => r.perplexity);
  const chart = barChartSvg({
    title: 'Perplexity after pruning (lower is better; bars above the axis are clipped)',
    categories: labels,
    bars: settings.map((s) => ({ name: `${percent(s)} sparsity`, values: labels.map((l) => perplexityAt(l, s)) })),
    yLabel: 'perplexity',
    yMax: Math.max(report.densePerplexity * 2, ...lowest.filter(Number.isFinite)) * 1.2,
    reference: { value: report.densePerplexity, label: 'dense' },
    width: 900,
  });
  const facts = htmlFacts([
    ['model', `${report.model} (${(report.parameters / 1e6).toFixed(2)}M parameters)`],
    [
      'calibration',
      `${report.calibration.source}, ${report.calibration.nsamples} × ${report.calibration.seqlen} tokens, seed ${report.calibration.seed}`,
    ],
    [
      'evaluation',
      `${report.eval.data}: ${report.eval.windows} windows × ${report.eval.seqlen} = ${report.eval.tokens} tokens (lithe eval's protocol)`,
    ],
    ...runFacts(report.run),
    ['dense perplexity', report.densePerplexity.toFixed(3)],
    ['total time', `${report.totalSeconds.toFixed(1)} s`],
  ]);
  const table = htmlTable(
    ['method', 'allocation', 'sparsity', 'achieved', 'perplexity', 'vs dense', 'prune time'],
    report.rows.map((r) => [
      r.method,
      r.allocation,
      demoSetting(r),
      percent(r.achievedSparsity),
      r.perplexity.toFixed(3),
      `×${(r.perplexity / report.densePerplexity).toFixed(2)}`,
      `${r.seconds.toFixed(1)} s`,
    ]),
  );
  return htmlPage(
    'lithe demo: pruning methods compared',
    [htmlSection('Setup', facts), htmlSection('Perplexity', chart), htmlSection('Results', table)].join('\n'),
  );
}
