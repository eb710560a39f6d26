import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { arithmeticPreferences, arithmeticSft } from '../../src/data/preference.js';
import { formatJsonl } from '../../src/data/text-source.js';
import { saveRandomModel } from '../helpers/random-model.js';

const bin = fileURLToPath(new URL('../../../bin/lithe.js', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'lithe-align-cli-'));
after(() => rmSync(work, { recursive: true, force: true }));
const model = join(work, 'model');
const prefs = join(work, 'prefs.jsonl');
const sft = join(work, 'sft.jsonl');

const lithe = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
const metricsOf = (dir: string) =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, number>);
/** A short alignment run at a constant LR (so that the schedule does not depend on --steps). */
const alignRun = (out: string, ...extra: string[]) => [
  'align',
  '--model',
  model,
  '--data',
  prefs,
  '--out',
  out,
  '--batch',
  '2',
  '--max-length',
  '96',
  '--lr',
  '1e-3',
  '--warmup',
  '0',
  '--min-lr-ratio',
  '1',
  '--log-every',
  '1',
  ...extra,
];

before(async () => {
  await saveRandomModel(model, { hidden: 16, seed: 3 });
  writeFileSync(prefs, formatJsonl(arithmeticPreferences(8, { ties: 0.25, seed: 1 })));
  writeFileSync(sft, formatJsonl(arithmeticSft(6, { seed: 2 })));
});

describe('lithe train --task sft', () => {
  it('fine-tunes on prompt/completion rows and writes the model', () => {
    const out = join(work, 'sft-run');
    const r = lithe(
      'train',
      '--task',
      'sft',
      '--model',
      model,
      '--data',
      sft,
      '--out',
      out,
      '--steps',
      '3',
      '--batch',
      '2',
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).step, 3);
    assert.ok(existsSync(join(out, 'model', 'model.safetensors')));
    assert.ok(metricsOf(out).every((m) => Number.isFinite(m.loss)));
  });

  it('refuses flags that do not fit the task, with one line and exit 2', () => {
    for (const args of [
      ['--task', 'sft', '--model', model, '--out', join(work, 'x')],
      ['--task', 'sft', '--model', model, '--data', sft, '--seqlen', '64', '--out', join(work, 'x')],
      ['--model', model, '--max-length', '64', '--out', join(work, 'x')],
      ['--task', 'sft', '--model', model, '--data', sft, '--val', 'sotu:val', '--out', join(work, 'x')],
    ]) {
      const r = lithe('train', ...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  });
});

describe('lithe align', () => {
  it("trains TODO on pairs with ties and logs TRL's metrics with the tie share and loss", () => {
    const out = join(work, 'todo');
    const r = lithe(...alignRun(out, '--loss', 'todo', '--steps', '3'));
    assert.equal(r.status, 0, r.stderr);
    const metrics = metricsOf(out);
    assert.deepEqual(
      metrics.map((m) => m.step),
      [1, 2, 3],
    );
    for (const key of ['rewards/chosen', 'rewards/rejected', 'rewards/margins', 'logps/chosen', 'ties/share']) {
      assert.ok(
        metrics.every((m) => Number.isFinite(m[key])),
        key,
      );
    }
    assert.ok(
      metrics.some((m) => Number.isFinite(m['ties/loss'])),
      'some batch of 2 out of 8 pairs with 2 ties holds a tie',
    );
    assert.ok(existsSync(join(out, 'model', 'tokenizer.json')));
  });

  it('resumes bit for bit, and a precomputed reference gives the live one’s losses', () => {
    const straight = join(work, 'straight');
    assert.equal(lithe(...alignRun(straight, '--steps', '4')).status, 0);
    const resumed = join(work, 'resumed');
    assert.equal(lithe(...alignRun(resumed, '--steps', '2')).status, 0);
    const more = lithe(...alignRun(resumed, '--steps', '4', '--resume'));
    assert.equal(more.status, 0, more.stderr);
    const weights = (dir: string) => readFileSync(join(dir, 'model', 'model.safetensors'));
    assert.ok(weights(straight).equals(weights(resumed)), 'resumed weights differ');
    // --resume must repeat what shapes the run.
    const changed = lithe(...alignRun(resumed, '--steps', '5', '--resume', '--beta', '0.2'));
    assert.equal(changed.status, 2);
    assert.match(changed.stderr, /--beta/);

    const precomputed = join(work, 'precomputed');
    const r = lithe(...alignRun(precomputed, '--steps', '4', '--precompute-ref'));
    assert.equal(r.status, 0, r.stderr);
    const [live, pre] = [metricsOf(straight), metricsOf(precomputed)];
    for (const [i, m] of live.entries()) {
      assert.ok(Math.abs(m.loss - pre[i].loss) < 1e-5, `step ${m.step}: ${m.loss} vs ${pre[i].loss}`);
    }
  });

  it('refuses bad flags with one line and exit 2', () => {
    for (const extra of [
      ['--loss', 'sigmoid', '--alpha', '0.5'],
      ['--loss', 'cdpo'],
      ['--loss', 'sigmoid', '--label-smoothing', '0.1'],
      ['--beta', '0'],
      ['--loss', 'kto'],
    ]) {
      const r = lithe(...alignRun(join(work, 'bad'), ...extra));
      assert.equal(r.status, 2, `${extra.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.doesNotMatch(r.stderr, /labelSmoothing/, 'messages name the flags');
    }
    const missing = lithe('align', '--model', model, '--data', join(work, 'none.jsonl'), '--out', join(work, 'bad'));
    assert.equal(missing.status, 2);
    assert.equal(existsSync(join(work, 'bad')), false, 'nothing written for bad input');
  });
});

describe('lithe eval --preference and --answers', () => {
  it('scores an aligned model against its reference', () => {
    const r = lithe('eval', '--model', join(work, 'todo', 'model'), '--ref', model, '--preference', prefs, '--json');
    assert.equal(r.status, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.equal(result.pairs, 8);
    assert.equal(result.ties, 2);
    for (const key of ['accuracy', 'threeWayAccuracy', 'meanRewardMargin']) {
      assert.ok(result[key] >= (key === 'meanRewardMargin' ? -Infinity : 0), key);
    }
    // Against itself every margin is 0: no non-tie pair is won.
    const self = JSON.parse(lithe('eval', '--model', model, '--preference', prefs, '--json').stdout);
    assert.equal(self.accuracy, 0);
    assert.equal(self.meanRewardMargin, 0);
  });

  it('answers held-out problems greedily and checks the final answer', () => {
    const r = lithe(
      'eval',
      '--model',
      model,
      '--answers',
      sft,
      '--max-new-tokens',
      '4',
      '--max-problems',
      '2',
      '--json',
    );
    assert.equal(r.status, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.equal(result.total, 2);
    // A random model does not write "So the answer is N.".
    assert.equal(result.correct, 0);
    const bad = lithe('eval', '--model', model, '--answers', sft, '--ref', model);
    assert.equal(bad.status, 2);
  });
});
