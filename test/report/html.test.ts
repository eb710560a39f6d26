import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PruneResult } from '../../src/compress/prune/pipeline.js';
import { zeros } from '../../src/engine/create.js';
import {
  barChartSvg,
  escapeHtml,
  heatMapSvg,
  htmlPage,
  htmlTable,
  lineChartSvg,
  viridis,
} from '../../src/report/html.js';
import { buildPruneReport, pruneReportHtml } from '../../src/report/prune-report.js';
import { runInfo } from '../../src/report/run-info.js';

describe('html report builder', () => {
  it('escapes text everywhere', () => {
    assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&#60;a href=&#34;x&#34;&#62;&#39;&#38;&#39;&#60;/a&#62;');
    const page = htmlPage('<script>alert(1)</script>', htmlTable(['<b>'], [['<i>', 3]]));
    assert.doesNotMatch(page, /<script|<b>|<i>/);
    assert.match(page, /<td class="num">3<\/td>/);
  });

  it('draws one bar per value, a line on a second axis and a reference line', () => {
    const svg = barChartSvg({
      title: 'per block <1>',
      categories: ['0', '1', '2'],
      bars: [{ name: 'sparsity', values: [40, 50, null] }],
      yLabel: 'sparsity (%)',
      reference: { value: 45, label: 'target' },
      line: { name: 'outliers', axisLabel: 'outlier ratio (%)', values: [1, 2, 3] },
    });
    assert.match(svg, /^<svg[^>]*>.*<\/svg>$/s);
    assert.equal((svg.match(/<rect [^>]*><title>/g) ?? []).length, 2);
    assert.equal((svg.match(/<circle /g) ?? []).length, 3);
    assert.match(svg, /stroke-dasharray="6 4"/);
    assert.match(svg, /per block &#60;1&#62;/);
    assert.doesNotMatch(svg, /NaN|undefined/);
  });

  it('handles an empty or all-zero chart', () => {
    const svg = barChartSvg({ title: 't', categories: [], bars: [{ name: 'x', values: [] }], yLabel: 'y' });
    assert.doesNotMatch(svg, /NaN|Infinity|undefined/);
  });
});

describe('prune report', () => {
  const result: PruneResult = {
    method: 'wanda',
    allocation: 'owl',
    pattern: 'unstructured',
    nm: null,
    targetSparsity: 0.5,
    achievedSparsity: 0.25,
    prunedSparsity: 0.5,
    blocks: [
      { index: 0, outlierRatio: 1.5, targetSparsity: 0.45, sparsity: 0.4375 },
      { index: 1, outlierRatio: 0.5, targetSparsity: 0.55, sparsity: 0.125 },
    ],
    modules: [
      { name: 'model.layers.0.mlp.down_proj', shape: [2, 4], sparsity: 0.5, mask: zeros([2, 4], { dtype: 'bool' }) },
    ],
    skipped: [{ name: 'model.layers.1.mlp.down_proj', shape: [2, 4], sparsity: 0.125 }],
    seconds: { calibration: 2, pruning: 3 },
  };
  const run = runInfo('lithe prune --model m --out o', 'org/model', '/cache/org/model');
  const protocol = { data: 'sotu:test', seqlen: 256, windows: 10, tokens: 2560 };

  it('drops the masks and adds calibration, perplexity and timings', () => {
    const calibration = { source: 'sotu:train', format: 'plain' as const, nsamples: 8, seqlen: 16, seed: 0 };
    const report = buildPruneReport(result, {
      calibration,
      perplexity: { before: 10, after: 12, protocol },
      run,
      samplingSeconds: 1,
      evalSeconds: 4,
    });
    assert.deepEqual(report.modules, [{ name: 'model.layers.0.mlp.down_proj', shape: [2, 4], sparsity: 0.5 }]);
    assert.deepEqual(report.skipped, result.skipped);
    assert.deepEqual(report.blocks, result.blocks);
    assert.equal(report.achievedSparsity, 0.25);
    assert.equal(report.prunedSparsity, 0.5);
    assert.deepEqual(report.seconds, { calibration: 3, pruning: 3, eval: 4 });
    assert.deepEqual(report.calibration, calibration);
    assert.deepEqual(report.perplexity, { before: 10, after: 12, protocol });
    assert.equal(report.run, run);
    const html = pruneReportHtml(report);
    assert.match(html, /<svg/);
    assert.match(html, /outlier ratio/);
    // Bars: each block's measured sparsity and, with OWL, its target; the overall target is the dashed line.
    assert.match(html, /<title>0: measured sparsity \(%\) 43\.8<\/title>/);
    assert.match(html, /<title>1: OWL block target \(%\) 55<\/title>/);
    assert.equal((html.match(/<rect [^>]*><title>/g) ?? []).length, 4);
    assert.match(html, /<title>target \(%\) 50<\/title>/);
    assert.match(html, /<h2>Left dense<\/h2>[\s\S]*model\.layers\.1\.mlp\.down_proj[\s\S]*12\.50%/);
    assert.match(html, /12\.000/);
    assert.match(html, /\+?20\.0%/);
    assert.match(html, /sotu:test: 10 windows × 256 = 2560 tokens/);
    assert.match(html, /lithe prune --model m --out o/);
    assert.match(html, /org\/model \(\/cache\/org\/model\)/);
    assert.match(html, new RegExp(run.date));
  });

  it('reports no perplexity and no calibration when there were none', () => {
    const report = buildPruneReport(
      { ...result, seconds: { pruning: 1 } },
      { calibration: null, perplexity: null, run },
    );
    assert.deepEqual(report.seconds, { calibration: 0, pruning: 1, eval: 0 });
    assert.match(pruneReportHtml(report), /Not measured/);
    const uniform = pruneReportHtml(
      buildPruneReport(
        {
          ...result,
          allocation: 'uniform',
          blocks: result.blocks.map((b) => ({ ...b, outlierRatio: null, targetSparsity: 0.5 })),
          skipped: [],
        },
        { calibration: null, perplexity: null, run },
      ),
    );
    assert.equal((uniform.match(/<rect [^>]*><title>/g) ?? []).length, 2);
    assert.doesNotMatch(uniform, /Left dense|OWL block target/);
  });
});

describe('heat map and line chart', () => {
  it('maps viridis end to end, clamped', () => {
    assert.equal(viridis(0), '#440154');
    assert.equal(viridis(0.5), '#21918c');
    assert.equal(viridis(1), '#fde725');
    assert.equal(viridis(-3), '#440154');
    assert.equal(viridis(7), '#fde725');
  });

  it('draws one cell per given cell, with text that contrasts with its colour', () => {
    const svg = heatMapSvg({
      title: 'ranks <x>',
      rows: ['0', '1'],
      columns: ['q', 'k'],
      rowLabel: 'block',
      columnLabel: 'module',
      cells: [
        { row: 0, column: 0, value: 0, label: 'dark', tooltip: 'a <b>' },
        { row: 1, column: 1, value: 10, label: 'light' },
      ],
      domain: [0, 10],
      valueLabel: 'kept',
      notes: ['F: factors'],
    });
    assert.match(svg, /^<svg[^>]*>.*<\/svg>$/s);
    assert.equal((svg.match(/<g><title>/g) ?? []).length, 2);
    assert.match(svg, /fill="#440154"[^>]*\/><text[^>]*style="fill:#fff">dark</);
    assert.match(svg, /fill="#fde725"[^>]*\/><text[^>]*style="fill:#000">light</);
    assert.match(svg, /<title>a &#60;b&#62;<\/title>/);
    assert.match(svg, /ranks &#60;x&#62;/);
    assert.match(svg, />F: factors</);
    assert.match(svg, /linearGradient/);
    assert.doesNotMatch(svg, /NaN|undefined/);
  });

  it('breaks a line at non-finite points and draws reference lines on either axis', () => {
    const svg = lineChartSvg({
      title: 't',
      xLabel: 'x',
      yLabel: 'y',
      series: [
        {
          name: 's',
          points: [
            [0, 1],
            [0.5, Number.NaN],
            [0.75, 0.5],
            [1, 0],
          ],
        },
      ],
      references: [
        { axis: 'y', value: 0.25, label: 'tau' },
        { axis: 'x', value: 0.5, label: 'k' },
      ],
    });
    assert.equal((svg.match(/<polyline /g) ?? []).length, 2);
    const refs = [...svg.matchAll(/x1="([\d.]+)" x2="([\d.]+)" y1="([\d.]+)" y2="([\d.]+)"[^>]*><title>(\w+)</g)];
    const byTitle = new Map(refs.map((m) => [m[5], m.slice(1, 5).map(Number)]));
    const [tx1, tx2, ty1, ty2] = byTitle.get('tau')!;
    const [kx1, kx2, ky1, ky2] = byTitle.get('k')!;
    assert.ok(ty1 === ty2 && tx1 < tx2);
    assert.ok(kx1 === kx2 && ky1 < ky2);
    assert.doesNotMatch(svg, /NaN|undefined/);
  });

  it('wraps its legend into more rows as series are added, and handles no data', () => {
    const heightOf = (svg: string) => Number(/height="([\d.]+)"/.exec(svg)![1]);
    const chart = (n: number) =>
      lineChartSvg({
        title: 't',
        xLabel: 'x',
        yLabel: 'y',
        series: Array.from({ length: n }, (_, i) => ({ name: `a fairly long series name ${i}`, points: [[0, i]] })),
      });
    assert.ok(heightOf(chart(12)) > heightOf(chart(1)));
    const empty = lineChartSvg({ title: 't', xLabel: 'x', yLabel: 'y', series: [] });
    assert.doesNotMatch(empty, /NaN|Infinity|undefined/);
  });
});
