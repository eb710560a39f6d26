import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadDecoder } from '../../src/io/checkpoint.js';
import { openCheckpoint } from '../../src/io/sharded.js';
import { LowRankLinear } from '../../src/nn/low-rank-linear.js';
import { saveRandomModel } from '../helpers/random-model.js';

const bin = fileURLToPath(new URL('../../../bin/lithe.js', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'lithe-lowrank-'));
const modelDir = join(work, 'model');
const evalText = join(work, 'eval.txt');
const trainText = join(work, 'train.txt');
const run = (...args: string[]) =>
  spawnSync(process.execPath, [bin, ...args], {
    encoding: 'utf8',
    env: { ...process.env, LITHE_BACKEND: 'ts', LITHE_CACHE: join(work, 'cache') },
  });
const lowrank = (out: string, ...args: string[]) =>
  run('lowrank', '--model', modelDir, '--out', join(work, out), ...args);
const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8'));
const ids = [
  [3, 17, 250, 9, 4000, 12],
  [7, 7, 100, 2, 31, 8000],
];

before(async () => {
  await saveRandomModel(modelDir, { layers: 2, hidden: 32, seed: 7 });
  const sentence = 'We the people of the United States, in order to form a more perfect union, establish justice. ';
  writeFileSync(evalText, sentence.repeat(6));
  writeFileSync(trainText, `${sentence.repeat(3)}\n\n`.repeat(20));
});
after(() => rmSync(work, { recursive: true, force: true }));

describe('lithe lowrank', () => {
  it('writes a factorised checkpoint whose config.json records every rank, with report.json and report.html', async () => {
    const r = lowrank('welore', '--method', 'welore', '--err', '0.5', '--eval', evalText, '--seqlen', '16', '--json');
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.deepEqual(report, readJson(join(work, 'welore', 'report.json')));
    assert.ok(Math.abs(report.achievedErr - 0.5) < 0.01);
    assert.ok(report.tau > 0 && report.tau < 1);
    assert.ok(report.perplexity.before > 1 && report.perplexity.after > 1);
    assert.deepEqual(Object.keys(report.seconds).sort(), ['eval', 'factorise', 'spectra']);
    const factorised = report.modules.filter((m: { stored: string }) => m.stored === 'factors');
    assert.ok(factorised.length > 0);
    const config = readJson(join(work, 'welore', 'config.json'));
    assert.deepEqual(
      config.low_rank,
      Object.fromEntries(factorised.map((m: { name: string; rank: number }) => [m.name, m.rank])),
    );
    const reader = openCheckpoint(join(work, 'welore'));
    const first = factorised[0];
    assert.deepEqual(reader.info(`${first.name}.U.weight`).shape, [first.shape[0], first.rank]);
    assert.deepEqual(reader.info(`${first.name}.V.weight`).shape, [first.rank, first.shape[1]]);
    assert.equal(reader.has(`${first.name}.weight`), false);
    reader.close();
    const model = await loadDecoder(join(work, 'welore'));
    assert.ok(model.namedModules().get(first.name) instanceof LowRankLinear);
    assert.equal(
      report.parameters.after,
      model.parameters().reduce((n, p) => n + p.size, 0),
    );
    const html = readFileSync(join(work, 'welore', 'report.html'), 'utf8');
    assert.ok(html.includes(first.name) && !/(src|href)="https?:/.test(html));
    // lithe eval loads it as it loads any model, and measures what the report's "after" says.
    const evaluated = run('eval', '--model', join(work, 'welore'), '--data', evalText, '--seqlen', '16', '--json');
    assert.equal(evaluated.status, 0, evaluated.stderr);
    assert.ok(Math.abs(JSON.parse(evaluated.stdout).perplexity - report.perplexity.after) < 1e-9);
  });

  it('--merge writes a dense checkpoint with the factorised model’s logits', async () => {
    const flags = ['--method', 'svd', '--err', '0.6', '--save-dtype', 'f32'];
    assert.equal(lowrank('svd', ...flags).status, 0);
    const merged = lowrank('merged', ...flags, '--merge');
    assert.equal(merged.status, 0, merged.stderr);
    assert.equal(readJson(join(work, 'merged', 'config.json')).low_rank, undefined);
    assert.equal(readJson(join(work, 'merged', 'report.json')).merged, true);
    const [a, b] = await Promise.all([loadDecoder(join(work, 'svd')), loadDecoder(join(work, 'merged'))]);
    assert.ok([...a.namedModules().values()].some((m) => m instanceof LowRankLinear));
    assert.ok(![...b.namedModules().values()].some((m) => m instanceof LowRankLinear));
    const [la, lb] = [a.forward(ids).floatData(), b.forward(ids).floatData()];
    for (let i = 0; i < la.length; i++) assert.ok(Math.abs(la[i] - lb[i]) < 1e-4);
  });

  it('refuses bad input with one line and exit code 2, writing nothing', () => {
    for (const [args, pattern] of [
      [['--method', 'welore', '--err', '1.5'], /--err/],
      [['--method', 'welore', '--err', '0'], /ERR must be in \(0, 1\)/],
      [['--method', 'welore', '--err', '0.5', '--min-ratio', '1'], /--min-ratio/],
      [['--method', 'svd', '--err', '0.5', '--tau', '0.1'], /tau applies to the welore method only/],
      [['--err', '0.5'], /--method svd\|welore is required/],
      [['--method', 'svd', '--err', '0.5', '--skip', 'lm_head*'], /matches no block Linear/],
    ] as [string[], RegExp][]) {
      const r = lowrank('bad', ...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, pattern);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.equal(existsSync(join(work, 'bad', 'config.json')), false);
    }
  });

  it('lithe train --trainable lrc trains only the factors of the factorised Linears', async () => {
    const lrcModel = join(work, 'welore');
    const trainLrc = (model: string, out: string, ...flags: string[]) =>
      run(
        'train',
        '--model',
        model,
        '--out',
        join(work, out),
        '--trainable',
        'lrc',
        '--data',
        trainText,
        '--steps',
        '2',
        '--batch',
        '2',
        '--seqlen',
        '16',
        ...flags,
      );
    const r = trainLrc(lrcModel, 'ft', '--lr', '1e-2', '--save-dtype', 'f32');
    assert.equal(r.status, 0, r.stderr);
    const [before, after] = await Promise.all([loadDecoder(lrcModel), loadDecoder(join(work, 'ft', 'model'))]);
    const lowRank = new Set(
      [...before.namedModules()].filter(([, m]) => m instanceof LowRankLinear).map(([name]) => name),
    );
    const afterParams = after.namedParameters();
    for (const [name, p] of before.namedParameters()) {
      const changed = p.floatData().some((v, i) => v !== (afterParams.get(name)?.floatData()[i] ?? v));
      const isFactor = lowRank.has(name.replace(/\.[UV]\.(weight|bias)$/, ''));
      assert.equal(changed, isFactor && !name.endsWith('bias'), name);
    }
    const denseRun = trainLrc(modelDir, 'ft-dense');
    assert.equal(denseRun.status, 2);
    assert.match(denseRun.stderr, /no factorised Linears/);
  });

  it('lithe prune refuses a factorised checkpoint before loading it', () => {
    const r = run(
      'prune',
      '--model',
      join(work, 'welore'),
      '--out',
      join(work, 'pruned'),
      '--method',
      'magnitude',
      '--sparsity',
      '0.5',
    );
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^lithe: .* is factorised .*lowrank --merge\)\n$/);
  });
});
