import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type LowRankHtmlInput, lowRankReportHtml } from '../../src/report/lowrank-report.js';
import { runInfo } from '../../src/report/run-info.js';

const SHAPES: Record<string, [number, number]> = {
  'self_attn.q_proj': [384, 384],
  'self_attn.k_proj': [128, 384],
  'self_attn.v_proj': [128, 384],
  'self_attn.o_proj': [384, 384],
  'mlp.gate_proj': [1024, 384],
  'mlp.up_proj': [1024, 384],
  'mlp.down_proj': [384, 1024],
};

/** Two blocks of llama-ref's shapes with made-up ranks; block 1's k stays unchanged. */
function input(method: 'svd' | 'welore'): LowRankHtmlInput {
  const modules = [0, 1].flatMap((b) =>
    Object.entries(SHAPES).map(([suffix, shape]) => {
      const n = Math.min(...shape);
      const rank = method === 'svd' ? n / 2 : suffix.includes('k_proj') && b === 1 ? n : 10 + b * 7;
      const stored = rank === n ? ('unchanged' as const) : ('factors' as const);
      return { name: `model.layers.${b}.${suffix}`, shape, rank, droppedFraction: (n - rank) / n, stored };
    }),
  );
  const spectrum = (n: number) => Array.from({ length: n }, (_, i) => 1 - i / (n - 1));
  return {
    run: runInfo('lithe lowrank --model m --out o', 'llama-ref', '/models/llama-ref'),
    method,
    targetErr: 0.5,
    achievedErr: 0.4996,
    tau: method === 'welore' ? 0.2374 : null,
    minRatio: 0,
    modules,
    parameters: { before: 2_000_000, after: 1_000_000 },
    perplexity: { before: 10, after: 12.5 },
    seconds: { spectra: 1, factorise: 2, eval: 3 },
    spectra: [
      { name: 'model.layers.0.self_attn.q_proj', normalized: spectrum(384) },
      { name: 'model.layers.0.self_attn.k_proj', normalized: spectrum(128) },
    ],
  };
}

/** The dashed reference lines of the spectra chart, with their hover text. */
function referenceLines(html: string): { x1: number; x2: number; y1: number; y2: number; title: string }[] {
  const pattern =
    /<line x1="([\d.]+)" x2="([\d.]+)" y1="([\d.]+)" y2="([\d.]+)"[^>]*stroke-dasharray="6 4"><title>([^<]*)/g;
  return [...html.matchAll(pattern)].map((m) => ({
    x1: Number(m[1]),
    x2: Number(m[2]),
    y1: Number(m[3]),
    y2: Number(m[4]),
    title: m[5],
  }));
}

/** Each heat-map cell: its hover text and the top-left corner of its rectangle. */
function heatMapCells(html: string): Map<string, { x: number; y: number }> {
  const pattern = /<g><title>([^<:]*):[^<]*<\/title><rect x="([\d.]+)" y="([\d.]+)"/g;
  return new Map([...html.matchAll(pattern)].map((m) => [m[1], { x: Number(m[2]), y: Number(m[3]) }]));
}

describe('lowrank report.html', () => {
  it('is self-contained: no scripts, stylesheets or fetched resources', () => {
    for (const method of ['svd', 'welore'] as const) {
      const html = lowRankReportHtml(input(method));
      assert.match(html, /^<!DOCTYPE html>/);
      assert.doesNotMatch(html, /\b(src|href)\s*=\s*["']?\s*(https?:)?\/\//i);
      assert.doesNotMatch(html, /<script|<link|<img|<iframe|@import|url\(\s*["']?(https?:)?\/\//i);
      assert.doesNotMatch(html, /NaN|undefined|Infinity/);
    }
  });

  it('escapes module names', () => {
    const base = input('welore');
    const evil = '<script>alert("x")</script>';
    const html = lowRankReportHtml({
      ...base,
      modules: [{ ...base.modules[0], name: `model.layers.0.${evil}` }],
      spectra: [{ name: `model.layers.0.${evil}`, normalized: [1, 0.5, 0] }],
      run: { ...base.run, command: `lithe lowrank --skip '${evil}'` },
    });
    assert.doesNotMatch(html, /<script|alert\("x"\)/);
    assert.match(html, /&#60;script&#62;alert\(&#34;x&#34;\)&#60;\/script&#62;/);
  });

  it('draws one heat-map cell per module, placed by block and module type', () => {
    const data = input('welore');
    const html = lowRankReportHtml(data);
    const cells = heatMapCells(html);
    assert.equal((html.match(/<g><title>/g) ?? []).length, data.modules.length);
    assert.deepEqual([...cells.keys()].sort(), data.modules.map((m) => m.name).sort());
    const at = (b: number, suffix: string) => cells.get(`model.layers.${b}.${suffix}`)!;
    // Rows are blocks, columns module types in q,k,v,o,gate,up,down order.
    assert.equal(at(1, 'mlp.down_proj').x, at(0, 'mlp.down_proj').x);
    assert.equal(at(1, 'mlp.down_proj').y, at(1, 'self_attn.q_proj').y);
    assert.ok(at(1, 'self_attn.q_proj').y > at(0, 'self_attn.q_proj').y);
    const columnOrder = Object.keys(SHAPES).map((suffix) => at(0, suffix).x);
    assert.deepEqual(
      columnOrder,
      [...columnOrder].sort((a, b) => a - b),
    );
    assert.equal(new Set(columnOrder).size, 7);
    // Labels: the rank and its storage mark; hover text: the kept fraction.
    assert.match(
      html,
      /<title>model\.layers\.1\.self_attn\.k_proj: rank 128 of 128 \(128 × 384\), 100\.00% kept, unchanged<\/title>/,
    );
    assert.match(html, />17 F<\/text>/);
    assert.match(html, />128 =<\/text>/);
    assert.match(html, /F: stored as factors/);
  });

  it('draws τ as a horizontal line for welore, and the kept rank as a vertical marker for svd', () => {
    const welore = referenceLines(lowRankReportHtml(input('welore')));
    assert.equal(welore.length, 1);
    assert.equal(welore[0].title, 'τ = 0.2374');
    assert.equal(welore[0].y1, welore[0].y2);
    assert.notEqual(welore[0].x1, welore[0].x2);

    const svdHtml = lowRankReportHtml(input('svd'));
    assert.doesNotMatch(svdHtml, /τ =/);
    const svd = referenceLines(svdHtml);
    // Both spectra keep half their components: one shared marker, halfway across the plot.
    assert.equal(svd.length, 1);
    assert.equal(svd[0].title, 'kept rank: 192 of 384, 64 of 128');
    assert.equal(svd[0].x1, svd[0].x2);
    assert.notEqual(svd[0].y1, svd[0].y2);
    const frame = /<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)" height="[\d.]+" fill="none"/.exec(svdHtml)!;
    assert.ok(Math.abs(svd[0].x1 - (Number(frame[1]) + Number(frame[2]) / 2)) <= 0.1);
  });

  it('shows parameters and perplexity before and after, or says perplexity was not measured', () => {
    const data = input('welore');
    const html = lowRankReportHtml(data);
    assert.match(html, /2,000,000/);
    assert.match(html, /1,000,000 \(50\.00% of before, 2\.00× fewer\)/);
    assert.match(html, /<dt>perplexity before<\/dt><dd>10\.000<\/dd>/);
    assert.match(html, /<dt>perplexity after<\/dt><dd>12\.500 \(\+25\.0%\)<\/dd>/);
    assert.match(html, /<dt>τ<\/dt><dd>0\.2374<\/dd>/);
    assert.match(html, /spectra 1\.00 s, factorise 2\.00 s, eval 3\.00 s/);
    const none = lowRankReportHtml({ ...data, perplexity: null });
    assert.match(none, /<dt>perplexity<\/dt><dd>not measured/);
    assert.doesNotMatch(none, /perplexity before|perplexity after/);
  });

  it('lists every module in the table', () => {
    const data = input('svd');
    const html = lowRankReportHtml(data);
    const table = html.slice(html.indexOf('<h2>Modules</h2>'));
    assert.equal((table.match(/<tr><td>model\.layers\./g) ?? []).length, data.modules.length);
    // k_proj as factors: 64 · (128 + 384) weights.
    assert.match(
      table,
      /<td>model\.layers\.0\.self_attn\.k_proj<\/td><td>128 × 384<\/td>.*<td class="num">32768<\/td><\/tr>/,
    );
  });
});
