import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEMO_CONFIGS } from '../../src/cli/demo.js';
import type { DemoReport } from '../../src/report/demo-report.js';
import { saveRandomModel } from '../helpers/random-model.js';

const bin = fileURLToPath(new URL('../../../bin/lithe.js', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'lithe-demo-'));
const modelDir = join(work, 'model');
const calibText = join(work, 'calib.txt');
const evalText = join(work, 'eval.txt');
const run = (...args: string[]) => spawnSync(process.execPath, [bin, 'demo', ...args], { encoding: 'utf8' });
// Small calibration and evaluation so that all 13 runs take a few seconds.
const fast = [
  ...['--model', modelDir, '--calib', calibText, '--eval', evalText],
  ...['--nsamples', '4', '--seqlen', '16', '--eval-seqlen', '16'],
];

before(async () => {
  await saveRandomModel(modelDir, { layers: 2, hidden: 32, dtype: 'bfloat16', seed: 3 });
  const sentence = 'We the people of the United States, in order to form a more perfect union, establish justice. ';
  writeFileSync(calibText, [sentence.repeat(4), sentence.repeat(5)].join('\n\n'));
  writeFileSync(evalText, sentence.repeat(6));
});
after(() => rmSync(work, { recursive: true, force: true }));

describe('lithe demo', () => {
  it('prunes with every configuration, prints the table and writes one report', () => {
    const out = join(work, 'demo');
    const r = run(...fast, '--out', out);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0], /^method\s+sparsity\s+achieved\s+perplexity\s+vs dense$/);
    assert.match(lines[1], /^dense\s+0%/);
    for (const label of ['magnitude', 'wanda+owl', 'sparsegpt+owl']) {
      assert.equal(lines.filter((l) => l.startsWith(`${label} `)).length, 2, label);
    }
    assert.equal(lines.filter((l) => /\s2:4\s/.test(l)).length, 2);
    const report = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as DemoReport;
    assert.equal(report.rows.length, DEMO_CONFIGS.length);
    for (const row of report.rows) {
      assert.ok(Number.isFinite(row.perplexity) && row.perplexity > 1, `${row.label}: ${row.perplexity}`);
      // Rows lose floor(in · s) weights, so the achieved ratio sits at or just under the target.
      assert.ok(Math.abs(row.achievedSparsity - row.targetSparsity) < 0.03, `${row.label} ${row.achievedSparsity}`);
    }
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    assert.match(html, /<svg/);
    assert.ok(!/<script/i.test(html), 'the report is self-contained, with no scripts');
  });

  it('rejects bad input with a one-line error, exit code 2 and nothing written', () => {
    const out = join(work, 'bad');
    for (const args of [
      ['--nsamples', '0'],
      ['--eval', join(work, 'missing.txt')],
      ['--calib', 'sotu:nope'],
      ['--bogus'],
    ]) {
      const r = run(...fast, '--out', out, ...args);
      assert.equal(r.status, 2, `${args}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.equal(existsSync(out), false);
    }
  });
});
