import {
  escapeHtml,
  formatPercent,
  formatSeconds,
  heatMapSvg,
  htmlFacts,
  htmlPage,
  htmlSection,
  htmlTable,
  lineChartSvg,
  paletteColor,
  type ReferenceLine,
} from './html.js';
import { type RunInfo, runFacts } from './run-info.js';

type Stored = 'factors' | 'dense' | 'unchanged';

/** What report.html of `lithe lowrank` shows: report.json's record plus a few normalised spectra to draw. */
export interface LowRankHtmlInput {
  run: RunInfo;
  method: 'svd' | 'welore';
  targetErr: number;
  achievedErr: number;
  tau: number | null;
  minRatio: number;
  modules: { name: string; shape: [number, number]; rank: number; droppedFraction: number; stored: Stored }[];
  parameters: { before: number; after: number };
  perplexity: { before: number; after: number } | null;
  seconds: { spectra: number; factorise: number; eval: number };
  /** Normalised spectra (ŝ, descending, values in [0,1]) of a few matrices, to draw with τ. */
  spectra: { name: string; normalized: number[] }[];
}

type Module = LowRankHtmlInput['modules'][number];

/** The mark after a heat-map cell's rank, and what it means in the legend. */
const STORED_MARKS: Record<Stored, { mark: string; meaning: string }> = {
  factors: { mark: 'F', meaning: 'F: stored as factors U·√S and √S·Vᵀ' },
  dense: { mark: 'D', meaning: 'D: rank-k reconstruction stored dense' },
  unchanged: { mark: '=', meaning: '=: weights left unchanged (not a low-rank component)' },
};

/** Heat-map columns in a decoder block's order; other module types follow in the order they appear. */
const MODULE_ORDER = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'];

const signedPercent = (v: number) => `${v >= 0 ? '+' : '−'}${Math.abs(v * 100).toFixed(1)}%`;
const count = (n: number) => n.toLocaleString('en-US');
const fullRank = (m: Module) => Math.min(m.shape[0], m.shape[1]);

const keptFraction = (m: Module) => m.rank / fullRank(m);

/** Weight parameters as stored: k·(out + in) for factors, out·in otherwise. */
const storedWeights = (m: Module) =>
  m.stored === 'factors' ? m.rank * (m.shape[0] + m.shape[1]) : m.shape[0] * m.shape[1];

/** A module's heat-map row (its block, from `….layers.{i}.`) and column (the rest of its name). */
function gridPosition(name: string): { rowKey: string; rowLabel: string; block: number; columnKey: string } {
  const match = /^(.*?layers\.(\d+))\.(.+)$/.exec(name);
  if (match) return { rowKey: match[1], rowLabel: match[2], block: Number(match[2]), columnKey: match[3] };
  const dot = name.lastIndexOf('.');
  const rowKey = dot < 0 ? '' : name.slice(0, dot);
  return { rowKey, rowLabel: rowKey || '(top)', block: Number.POSITIVE_INFINITY, columnKey: name.slice(dot + 1) };
}

/** `self_attn.q_proj` → `q`. */
const moduleType = (columnKey: string) => columnKey.slice(columnKey.lastIndexOf('.') + 1).replace(/_proj$/, '');

/** The rank heat map: block × module type, coloured by kept fraction, labelled with rank and storage mark. */
function rankHeatMap(modules: readonly Module[]): string {
  const positions = modules.map((m) => gridPosition(m.name));
  const rowKeys = [...new Map(positions.map((p) => [p.rowKey, p])).values()].sort((a, b) => a.block - b.block);
  const columnKeys = [...new Set(positions.map((p) => p.columnKey))];
  const orderOf = (key: string) => {
    const i = MODULE_ORDER.indexOf(moduleType(key));
    return i < 0 ? MODULE_ORDER.length : i;
  };
  columnKeys.sort((a, b) => orderOf(a) - orderOf(b));
  // A short type names its column unless two columns would share it (e.g. self_attn.q_proj and cross_attn.q_proj).
  const columnLabels = columnKeys.map((key) =>
    columnKeys.filter((k) => moduleType(k) === moduleType(key)).length > 1 ? key : moduleType(key),
  );
  const rowIndex = new Map(rowKeys.map((p, i) => [p.rowKey, i]));
  const cells = modules.map((m, i) => {
    const kept = keptFraction(m);
    return {
      row: rowIndex.get(positions[i].rowKey)!,
      column: columnKeys.indexOf(positions[i].columnKey),
      value: kept,
      label: `${m.rank} ${STORED_MARKS[m.stored].mark}`,
      tooltip: `${m.name}: rank ${m.rank} of ${fullRank(m)} (${m.shape[0]} × ${m.shape[1]}), ${formatPercent(kept)} kept, ${m.stored}`,
    };
  });
  return heatMapSvg({
    title: 'Rank kept per module',
    rows: rowKeys.map((p) => p.rowLabel),
    columns: columnLabels,
    rowLabel: 'block',
    columnLabel: 'module',
    cells,
    valueLabel: 'kept fraction = rank / min(out, in)',
    format: (v) => `${Math.round(v * 100)}%`,
    notes: Object.values(STORED_MARKS).map((s) => s.meaning),
  });
}

/** The normalised spectra against the component index / min(m, n), with τ (welore) or each kept rank (svd). */
function spectraChart(input: LowRankHtmlInput): string {
  const byName = new Map(input.modules.map((m) => [m.name, m]));
  const shortName = (name: string) => name.replace(/^model\./, '');
  // svd keeps nearly the same fraction of every matrix: one marker per distinct kept fraction, not one per series.
  const kept = new Map<string, { value: number; ranks: Set<string>; colors: Set<string> }>();
  const series = input.spectra.map((s, i) => {
    const n = s.normalized.length;
    const module = byName.get(s.name);
    const color = paletteColor(i);
    if (input.method === 'svd' && module) {
      const key = (module.rank / n).toFixed(3);
      const marker = kept.get(key) ?? { value: module.rank / n, ranks: new Set(), colors: new Set() };
      marker.ranks.add(`${module.rank} of ${n}`);
      marker.colors.add(color);
      kept.set(key, marker);
    }
    return {
      name: module ? `${shortName(s.name)} (rank ${module.rank} of ${n})` : shortName(s.name),
      color,
      points: s.normalized.map((v, j) => [(j + 1) / n, v] as const),
    };
  });
  const references: ReferenceLine[] = [...kept.values()].map((m) => ({
    axis: 'x',
    value: m.value,
    label: `kept rank: ${[...m.ranks].join(', ')}`,
    color: m.colors.size === 1 ? [...m.colors][0] : '#333',
  }));
  if (input.method === 'welore' && input.tau !== null) {
    references.push({ axis: 'y', value: input.tau, label: `τ = ${Number(input.tau.toPrecision(4))}` });
  }
  return lineChartSvg({
    title: 'Normalised singular values ŝ = (s − min s) / (max s − min s)',
    xLabel: 'component index / min(out, in)',
    yLabel: 'ŝ',
    series,
    references,
    xDomain: [0, 1],
    yDomain: [0, 1],
  });
}

/** report.html of `lithe lowrank`: summary facts, the rank heat map, the spectra with τ, and every module. */
export function lowRankReportHtml(input: LowRankHtmlInput): string {
  const { run, parameters, perplexity } = input;
  const stored = (kind: Stored) => input.modules.filter((m) => m.stored === kind).length;
  const summary = htmlFacts([
    ['model', run.model === run.modelDir ? run.model : `${run.model} (${run.modelDir})`],
    ['method', input.method],
    ['target ERR', formatPercent(input.targetErr)],
    ['achieved ERR', formatPercent(input.achievedErr)],
    ['τ', input.tau === null ? 'none (svd keeps the same fraction of every matrix)' : String(input.tau)],
    ['min-ratio', String(input.minRatio)],
    [
      'modules',
      `${input.modules.length}: ${stored('factors')} factorised, ${stored('dense')} dense rank-k, ${stored('unchanged')} unchanged`,
    ],
    ['parameters before', count(parameters.before)],
    [
      'parameters after',
      `${count(parameters.after)} (${formatPercent(parameters.after / parameters.before)} of before, ${(parameters.before / parameters.after).toFixed(2)}× fewer)`,
    ],
    ...(perplexity
      ? ([
          ['perplexity before', perplexity.before.toFixed(3)],
          [
            'perplexity after',
            `${perplexity.after.toFixed(3)} (${signedPercent((perplexity.after - perplexity.before) / perplexity.before)})`,
          ],
        ] as [string, string][])
      : ([['perplexity', 'not measured (run with --eval FILE|corpus:split)']] as [string, string][])),
    [
      'seconds',
      `spectra ${formatSeconds(input.seconds.spectra)}, factorise ${formatSeconds(input.seconds.factorise)}, eval ${formatSeconds(input.seconds.eval)}`,
    ],
    ...runFacts(run),
  ]);
  const warnings =
    run.warnings.length > 0
      ? [htmlSection('Warnings', `<ul>${run.warnings.map((w) => `<li>${escapeHtml(w)}</li>`).join('')}</ul>`)]
      : [];
  const modules = htmlTable(
    ['module', 'shape', 'min(out, in)', 'rank', 'kept', 'dropped', 'stored', 'weights stored'],
    input.modules.map((m) => [
      m.name,
      `${m.shape[0]} × ${m.shape[1]}`,
      fullRank(m),
      m.rank,
      formatPercent(keptFraction(m)),
      formatPercent(m.droppedFraction),
      m.stored,
      storedWeights(m),
    ]),
  );
  return htmlPage(
    `lithe lowrank: ${input.method}, target ERR ${formatPercent(input.targetErr)}`,
    [
      htmlSection('Summary', summary),
      ...warnings,
      htmlSection('Ranks', input.modules.length > 0 ? rankHeatMap(input.modules) : '<p>No modules.</p>'),
      ...(input.spectra.length > 0 ? [htmlSection('Spectra', spectraChart(input))] : []),
      htmlSection('Modules', modules),
    ].join('\n'),
  );
}
