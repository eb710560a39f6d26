/**
 * A tiny builder of self-contained HTML reports: inline CSS and inline SVG only, no scripts and nothing fetched
 * from the network, so a report opens offline and can be attached or archived as one file. All text is escaped.
 */

/** Text safe inside HTML elements and double-quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** One series of a bar or line chart: a value per category (null leaves a gap). */
export interface ChartSeries {
  name: string;
  values: readonly (number | null)[];
  /** CSS colour; defaults to a palette colour. */
  color?: string;
}

export interface BarChartOptions {
  title: string;
  /** One label per category along the x axis. */
  categories: readonly string[];
  /** Bar series, drawn side by side within each category against the left axis. */
  bars: readonly ChartSeries[];
  /** Left axis title. */
  yLabel: string;
  /** Top of the left axis; default: a round number above the largest bar. */
  yMax?: number;
  /** A dashed horizontal line on the left axis, e.g. a target. */
  reference?: { value: number; label: string };
  /** A series drawn as a line with markers against its own right-hand axis (for a quantity on another scale). */
  line?: ChartSeries & { axisLabel: string };
  /** Tick and tooltip formatting; default: up to 3 significant digits. */
  format?: (value: number) => string;
  width?: number;
  height?: number;
}

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#b07aa1'];

/** The i-th default series colour (wrapping), so a caller can draw related marks in a series' colour. */
/** A fraction as a percentage with two decimals, e.g. 0.5 -> '50.00%'. */
export const formatPercent = (v: number) => `${(v * 100).toFixed(2)}%`;

/** Seconds with two decimals, e.g. '1.25 s'. */
export const formatSeconds = (s: number) => `${s.toFixed(2)} s`;

export function paletteColor(i: number): string {
  return PALETTE[i % PALETTE.length];
}

/** A round axis top at or above max with its tick step (about 5 ticks). */
function niceScale(max: number): { top: number; step: number } {
  if (!(max > 0)) return { top: 1, step: 0.2 };
  const raw = max / 5;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((f) => f * magnitude >= raw) ?? 10) * magnitude;
  return { top: Math.ceil(max / step - 1e-9) * step, step };
}

const defaultFormat = (v: number) => String(Number(v.toPrecision(3)));
const finite = (values: readonly (number | null)[]) =>
  values.filter((v): v is number => v !== null && Number.isFinite(v));

/** An inline SVG bar chart, optionally with a line series on a second axis; tooltips via <title>. */
export function barChartSvg(options: BarChartOptions): string {
  const {
    title,
    categories,
    bars,
    yLabel,
    reference,
    line,
    format = defaultFormat,
    width = 900,
    height = 340,
  } = options;
  const margin = { top: 40, right: line ? 70 : 20, bottom: 50, left: 70 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const left = niceScale(options.yMax ?? Math.max(0, ...bars.flatMap((s) => finite(s.values)), reference?.value ?? 0));
  const right = line ? niceScale(Math.max(0, ...finite(line.values))) : null;
  const yOf = (v: number, top: number) => margin.top + plotH - (Math.min(v, top) / top) * plotH;
  const slot = plotW / Math.max(1, categories.length);
  const barW = (slot * 0.8) / Math.max(1, bars.length);
  const xCenter = (i: number) => margin.left + slot * (i + 0.5);
  const parts: string[] = [];

  parts.push(`<text x="${width / 2}" y="20" text-anchor="middle" class="chart-title">${escapeHtml(title)}</text>`);
  // Grid and left ticks.
  for (let v = 0; v <= left.top + 1e-9; v += left.step) {
    const y = yOf(v, left.top);
    parts.push(`<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${y}" y2="${y}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${margin.left - 6}" y="${y + 4}" text-anchor="end">${escapeHtml(format(v))}</text>`);
  }
  if (right && line) {
    for (let v = 0; v <= right.top + 1e-9; v += right.step) {
      const y = yOf(v, right.top);
      parts.push(`<text x="${margin.left + plotW + 6}" y="${y + 4}">${escapeHtml(format(v))}</text>`);
    }
    const x = width - 14;
    parts.push(
      `<text transform="translate(${x},${margin.top + plotH / 2}) rotate(90)" text-anchor="middle">${escapeHtml(line.axisLabel)}</text>`,
    );
  }
  parts.push(
    `<text transform="translate(16,${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escapeHtml(yLabel)}</text>`,
  );
  // Bars.
  bars.forEach((series, s) => {
    const color = series.color ?? paletteColor(s);
    series.values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) return;
      const x = xCenter(i) - (barW * bars.length) / 2 + s * barW;
      const y = yOf(v, left.top);
      const tip = `${categories[i]}: ${series.name} ${format(v)}`;
      parts.push(
        `<rect x="${x}" y="${y}" width="${Math.max(1, barW - 1)}" height="${margin.top + plotH - y}" fill="${escapeHtml(color)}"><title>${escapeHtml(tip)}</title></rect>`,
      );
    });
  });
  if (reference) {
    const y = yOf(reference.value, left.top);
    parts.push(
      `<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${y}" y2="${y}" stroke="#333" stroke-dasharray="6 4"><title>${escapeHtml(`${reference.label} ${format(reference.value)}`)}</title></line>`,
    );
  }
  // Line series against the right axis.
  if (right && line) {
    const color = line.color ?? paletteColor(bars.length);
    const points = line.values.flatMap((v, i) =>
      v === null || !Number.isFinite(v) ? [] : [{ x: xCenter(i), y: yOf(v, right.top), v, i }],
    );
    parts.push(
      `<polyline fill="none" stroke="${escapeHtml(color)}" stroke-width="2" points="${points.map((p) => `${p.x},${p.y}`).join(' ')}"/>`,
    );
    for (const p of points) {
      const tip = `${categories[p.i]}: ${line.name} ${format(p.v)}`;
      parts.push(
        `<circle cx="${p.x}" cy="${p.y}" r="3.5" fill="${escapeHtml(color)}"><title>${escapeHtml(tip)}</title></circle>`,
      );
    }
  }
  // Axes and category labels (thinned so they never overlap).
  const labelEvery = Math.max(1, Math.ceil(categories.length / Math.max(1, Math.floor(plotW / 28))));
  parts.push(
    `<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${margin.top + plotH}" y2="${margin.top + plotH}" stroke="#333"/>`,
  );
  categories.forEach((label, i) => {
    if (i % labelEvery !== 0) return;
    parts.push(
      `<text x="${xCenter(i)}" y="${margin.top + plotH + 16}" text-anchor="middle">${escapeHtml(label)}</text>`,
    );
  });
  // Legend.
  const legend = [
    ...bars.map((s, i) => ({ name: s.name, color: s.color ?? paletteColor(i), kind: 'bar' })),
    ...(line ? [{ name: line.name, color: line.color ?? paletteColor(bars.length), kind: 'line' }] : []),
    ...(reference ? [{ name: reference.label, color: '#333', kind: 'dash' }] : []),
  ];
  let lx = margin.left;
  const ly = height - 14;
  for (const item of legend) {
    const color = escapeHtml(item.color);
    parts.push(
      item.kind === 'bar'
        ? `<rect x="${lx}" y="${ly - 9}" width="12" height="10" fill="${color}"/>`
        : `<line x1="${lx}" x2="${lx + 14}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="2"${item.kind === 'dash' ? ' stroke-dasharray="4 3"' : ''}/>`,
    );
    parts.push(`<text x="${lx + 18}" y="${ly}">${escapeHtml(item.name)}</text>`);
    lx += 30 + item.name.length * 7;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" font-family="sans-serif" font-size="12">${parts.join('')}</svg>`;
}

// Viridis, sampled at 9 even stops: perceptually uniform, readable in greyscale and by colour-blind readers.
const VIRIDIS = [
  [68, 1, 84],
  [71, 45, 123],
  [59, 82, 139],
  [44, 114, 142],
  [33, 145, 140],
  [40, 174, 128],
  [94, 201, 98],
  [173, 220, 48],
  [253, 231, 37],
] as const;

/** The viridis colour of t in [0, 1] (clamped), as #rrggbb. */
export function viridis(t: number): string {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const channel = (c: number) => Math.round(VIRIDIS[i][c] + (VIRIDIS[i + 1][c] - VIRIDIS[i][c]) * f);
  return `#${[0, 1, 2].map((c) => channel(c).toString(16).padStart(2, '0')).join('')}`;
}

/** Black or white, whichever reads better on the given #rrggbb background (WCAG relative luminance). */
function textColorOn(background: string): string {
  const linear = [1, 3, 5].map((p) => {
    const c = Number.parseInt(background.slice(p, p + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  const luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2];
  // Contrast with black (L + 0.05) / 0.05 against white 1.05 / (L + 0.05): equal at L ≈ 0.179.
  return luminance > 0.179 ? '#000' : '#fff';
}

/** One cell of a heat map: its grid position, the value that colours it, and its text. */
export interface HeatMapCell {
  row: number;
  column: number;
  value: number;
  label: string;
  /** Hover text; default: the label. */
  tooltip?: string;
}

export interface HeatMapOptions {
  title: string;
  rows: readonly string[];
  columns: readonly string[];
  /** Axis titles: left of the row labels and above the column labels. */
  rowLabel: string;
  columnLabel: string;
  /** Cells left out of the grid stay blank. */
  cells: readonly HeatMapCell[];
  /** The value range spread over the colour scale; default [0, 1]. */
  domain?: readonly [number, number];
  /** Title of the colour bar in the legend. */
  valueLabel: string;
  /** Colour bar tick formatting; default: up to 3 significant digits. */
  format?: (value: number) => string;
  /** Lines of text next to the colour bar, e.g. what the marks in the labels mean. */
  notes?: readonly string[];
  cellWidth?: number;
  cellHeight?: number;
}

/** An inline SVG heat map in viridis with a labelled colour bar; each cell carries a tooltip via <title>. */
export function heatMapSvg(options: HeatMapOptions): string {
  const {
    title,
    rows,
    columns,
    rowLabel,
    columnLabel,
    cells,
    domain = [0, 1],
    valueLabel,
    format = defaultFormat,
    notes = [],
    cellWidth = 104,
    cellHeight = 26,
  } = options;
  const margin = { top: 62, left: 80, right: 20 };
  const gridW = columns.length * cellWidth;
  const gridH = rows.length * cellHeight;
  const legendTop = margin.top + gridH + 24;
  const barW = 240;
  const width = Math.max(margin.left + gridW + margin.right, margin.left + barW + 60 + 320);
  const height = legendTop + Math.max(42, 8 + notes.length * 16);
  const [lo, hi] = domain;
  const scaled = (v: number) => (hi > lo ? (v - lo) / (hi - lo) : 0);
  const parts: string[] = [];

  parts.push(`<text x="${margin.left}" y="20" class="chart-title">${escapeHtml(title)}</text>`);
  parts.push(
    `<text x="${margin.left + gridW / 2}" y="${margin.top - 26}" text-anchor="middle" font-weight="bold">${escapeHtml(columnLabel)}</text>`,
  );
  parts.push(
    `<text transform="translate(18,${margin.top + gridH / 2}) rotate(-90)" text-anchor="middle" font-weight="bold">${escapeHtml(rowLabel)}</text>`,
  );
  columns.forEach((label, c) => {
    const x = margin.left + (c + 0.5) * cellWidth;
    parts.push(`<text x="${x}" y="${margin.top - 8}" text-anchor="middle">${escapeHtml(label)}</text>`);
  });
  rows.forEach((label, r) => {
    const y = margin.top + (r + 0.5) * cellHeight + 4;
    parts.push(`<text x="${margin.left - 8}" y="${y}" text-anchor="end">${escapeHtml(label)}</text>`);
  });
  for (const cell of cells) {
    const x = margin.left + cell.column * cellWidth;
    const y = margin.top + cell.row * cellHeight;
    const fill = viridis(scaled(cell.value));
    parts.push(
      `<g><title>${escapeHtml(cell.tooltip ?? cell.label)}</title><rect x="${x}" y="${y}" width="${cellWidth}" height="${cellHeight}" fill="${fill}" stroke="#fff"/>` +
        `<text x="${x + cellWidth / 2}" y="${y + cellHeight / 2 + 4}" text-anchor="middle" style="fill:${textColorOn(fill)}">${escapeHtml(cell.label)}</text></g>`,
    );
  }
  // Legend: a colour bar from lo to hi with five ticks, then the notes.
  const stops = Array.from({ length: 11 }, (_, i) => `<stop offset="${i * 10}%" stop-color="${viridis(i / 10)}"/>`);
  parts.push(`<defs><linearGradient id="heat-map-scale">${stops.join('')}</linearGradient></defs>`);
  parts.push(`<text x="${margin.left}" y="${legendTop}">${escapeHtml(valueLabel)}</text>`);
  parts.push(
    `<rect x="${margin.left}" y="${legendTop + 6}" width="${barW}" height="12" fill="url(#heat-map-scale)" stroke="#999"/>`,
  );
  for (let i = 0; i <= 4; i++) {
    const x = margin.left + (barW * i) / 4;
    parts.push(`<line x1="${x}" x2="${x}" y1="${legendTop + 18}" y2="${legendTop + 22}" stroke="#333"/>`);
    parts.push(
      `<text x="${x}" y="${legendTop + 34}" text-anchor="middle">${escapeHtml(format(lo + ((hi - lo) * i) / 4))}</text>`,
    );
  }
  notes.forEach((note, i) => {
    parts.push(`<text x="${margin.left + barW + 60}" y="${legendTop + i * 16}">${escapeHtml(note)}</text>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" font-family="sans-serif" font-size="12">${parts.join('')}</svg>`;
}

/** One line of a line chart: (x, y) points in drawing order; a non-finite point breaks the line. */
export interface LineSeries {
  name: string;
  points: readonly (readonly [number, number])[];
  /** CSS colour; defaults to a palette colour. */
  color?: string;
}

/** A dashed line across the plot at a value of one axis (y: horizontal, x: vertical). */
export interface ReferenceLine {
  axis: 'x' | 'y';
  value: number;
  /** Legend and hover text (give the value in it where it matters). */
  label: string;
  /** CSS colour; default dark grey. */
  color?: string;
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly LineSeries[];
  references?: readonly ReferenceLine[];
  /** Axis ranges; default: from 0 (or the smallest value, if negative) to a round number above the largest. */
  xDomain?: readonly [number, number];
  yDomain?: readonly [number, number];
  /** Tick and tooltip formatting; default: up to 3 significant digits. */
  format?: (value: number) => string;
  width?: number;
  /** Height of the plot with its axes; the legend adds rows below as it needs. */
  height?: number;
}

/** Tick values: multiples of a round step within [lo, hi]. */
function ticks(lo: number, hi: number): number[] {
  const { step } = niceScale(hi - lo);
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step)
    out.push(Number(v.toPrecision(12)));
  return out;
}

/** The default range of an axis over the given values. */
function autoDomain(values: readonly number[]): [number, number] {
  const lo = Math.min(0, ...values);
  return [lo, lo + niceScale(Math.max(0, ...values) - lo).top];
}

/** An inline SVG line chart with dashed reference lines and a wrapping legend; tooltips via <title>. */
export function lineChartSvg(options: LineChartOptions): string {
  const { title, xLabel, yLabel, series, references = [], format = defaultFormat, width = 900 } = options;
  const plotHeight = options.height ?? 380;
  const margin = { top: 40, right: 24, bottom: 50, left: 70 };
  const plotW = width - margin.left - margin.right;
  const plotH = plotHeight - margin.top - margin.bottom;
  const all = series.flatMap((s) => s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)));
  const refs = (axis: 'x' | 'y') => references.filter((r) => r.axis === axis && Number.isFinite(r.value));
  const [x0, x1] = options.xDomain ?? autoDomain([...all.map(([x]) => x), ...refs('x').map((r) => r.value)]);
  const [y0, y1] = options.yDomain ?? autoDomain([...all.map(([, y]) => y), ...refs('y').map((r) => r.value)]);
  const px = (x: number) => margin.left + ((x - x0) / (x1 - x0 || 1)) * plotW;
  const py = (y: number) => margin.top + plotH - ((y - y0) / (y1 - y0 || 1)) * plotH;
  const round = (v: number) => Math.round(v * 10) / 10;
  const colorOf = (s: LineSeries, i: number) => s.color ?? paletteColor(i);
  const parts: string[] = [];

  parts.push(`<text x="${width / 2}" y="20" text-anchor="middle" class="chart-title">${escapeHtml(title)}</text>`);
  for (const v of ticks(y0, y1)) {
    const y = round(py(v));
    parts.push(`<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${y}" y2="${y}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${margin.left - 6}" y="${y + 4}" text-anchor="end">${escapeHtml(format(v))}</text>`);
  }
  for (const v of ticks(x0, x1)) {
    const x = round(px(v));
    parts.push(`<line x1="${x}" x2="${x}" y1="${margin.top}" y2="${margin.top + plotH}" stroke="#f0f0f0"/>`);
    parts.push(`<text x="${x}" y="${margin.top + plotH + 16}" text-anchor="middle">${escapeHtml(format(v))}</text>`);
  }
  parts.push(
    `<text x="${margin.left + plotW / 2}" y="${margin.top + plotH + 38}" text-anchor="middle">${escapeHtml(xLabel)}</text>`,
  );
  parts.push(
    `<text transform="translate(16,${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escapeHtml(yLabel)}</text>`,
  );
  parts.push(
    `<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`,
  );
  series.forEach((s, i) => {
    // Finite runs of points become one polyline each, clipped to the plot by the domain check.
    const runs: string[][] = [[]];
    for (const [x, y] of s.points) {
      const inside = Number.isFinite(x) && Number.isFinite(y) && x >= x0 && x <= x1 && y >= y0 && y <= y1;
      if (inside) runs[runs.length - 1].push(`${round(px(x))},${round(py(y))}`);
      else if (runs[runs.length - 1].length > 0) runs.push([]);
    }
    const color = escapeHtml(colorOf(s, i));
    for (const run of runs.filter((r) => r.length > 0)) {
      parts.push(
        `<polyline fill="none" stroke="${color}" stroke-width="1.75" stroke-linejoin="round" points="${run.join(' ')}"><title>${escapeHtml(s.name)}</title></polyline>`,
      );
    }
  });
  for (const r of [...refs('x'), ...refs('y')]) {
    const color = escapeHtml(r.color ?? '#333');
    const tip = `<title>${escapeHtml(r.label)}</title>`;
    if (r.axis === 'y') {
      const y = round(py(r.value));
      parts.push(
        `<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${y}" y2="${y}" stroke="${color}" stroke-width="1.5" stroke-dasharray="6 4">${tip}</line>`,
      );
    } else {
      const x = round(px(r.value));
      parts.push(
        `<line x1="${x}" x2="${x}" y1="${margin.top}" y2="${margin.top + plotH}" stroke="${color}" stroke-width="1.5" stroke-dasharray="6 4">${tip}</line>`,
      );
    }
  }
  // Legend below the plot, wrapped into rows that fit the width.
  const legend = [
    ...series.map((s, i) => ({ name: s.name, color: colorOf(s, i), dashed: false })),
    ...[...refs('y'), ...refs('x')].map((r) => ({ name: r.label, color: r.color ?? '#333', dashed: true })),
  ];
  let lx = margin.left;
  let ly = plotHeight + 6;
  for (const item of legend) {
    const itemW = 34 + item.name.length * 6.6;
    if (lx > margin.left && lx + itemW > width - margin.right) {
      lx = margin.left;
      ly += 18;
    }
    parts.push(
      `<line x1="${lx}" x2="${lx + 22}" y1="${ly - 4}" y2="${ly - 4}" stroke="${escapeHtml(item.color)}" stroke-width="2"${item.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
    );
    parts.push(`<text x="${lx + 28}" y="${ly}">${escapeHtml(item.name)}</text>`);
    lx += itemW;
  }
  const height = legend.length > 0 ? ly + 12 : plotHeight;
  return `<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" font-family="sans-serif" font-size="12">${parts.join('')}</svg>`;
}

/** A table; cells are escaped, numeric cells are right-aligned. */
export function htmlTable(headers: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cell = (tag: 'th' | 'td', value: string | number) =>
    `<${tag}${typeof value === 'number' ? ' class="num"' : ''}>${escapeHtml(String(value))}</${tag}>`;
  const head = `<tr>${headers.map((h) => cell('th', h)).join('')}</tr>`;
  const body = rows.map((row) => `<tr>${row.map((v) => cell('td', v)).join('')}</tr>`).join('\n');
  return `<table>\n<thead>${head}</thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

/** Label/value pairs as a definition list. */
export function htmlFacts(facts: readonly (readonly [string, string])[]): string {
  return `<dl>${facts.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('')}</dl>`;
}

/** One report section: an escaped heading over already-built HTML. */
export function htmlSection(heading: string, bodyHtml: string): string {
  return `<section>\n<h2>${escapeHtml(heading)}</h2>\n${bodyHtml}\n</section>`;
}

const STYLE = `body{font-family:system-ui,sans-serif;margin:24px auto;max-width:960px;color:#222}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
dl{display:grid;grid-template-columns:max-content auto;gap:4px 16px}dt{color:#666}dd{margin:0}
table{border-collapse:collapse;font-size:13px}th,td{padding:3px 10px;border-bottom:1px solid #eee;text-align:left}
.num{text-align:right;font-variant-numeric:tabular-nums}.chart-title{font-size:14px;font-weight:bold}
svg text{fill:#333}`;

/** A complete self-contained page: escaped title, inline CSS, then the given body HTML. */
export function htmlPage(title: string, bodyHtml: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
${bodyHtml}
</body>
</html>
`;
}
