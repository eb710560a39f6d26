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
    const color = series.color ?? PALETTE[s % PALETTE.length];
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
    const color = line.color ?? PALETTE[bars.length % PALETTE.length];
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
    ...bars.map((s, i) => ({ name: s.name, color: s.color ?? PALETTE[i % PALETTE.length], kind: 'bar' })),
    ...(line ? [{ name: line.name, color: line.color ?? PALETTE[bars.length % PALETTE.length], kind: 'line' }] : []),
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
