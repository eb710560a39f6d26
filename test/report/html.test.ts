import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PruneResult } from '../../src/compress/prune/pipeline.js';
import { zeros } from '../../src/engine/create.js';
import { barChartSvg, escapeHtml, htmlPage, htmlTable } from '../../src/report/html.js';
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
