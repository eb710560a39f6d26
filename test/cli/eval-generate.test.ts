import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { saveRandomModel } from '../helpers/random-model.js';

const bin = fileURLToPath(new URL('../../../bin/lithe.js', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'lithe-cli-'));
const modelDir = join(work, 'model');
const run = (...args: string[]) =>
  spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, LITHE_BACKEND: 'ts' } });

before(async () => {
  await saveRandomModel(modelDir, { seed: 3 });
});
after(() => rmSync(work, { recursive: true, force: true }));

describe('lithe eval', () => {
  it('--json prints exactly one JSON object with the protocol fields', () => {
    const text = join(work, 'text.txt');
    writeFileSync(text, 'We the people of the United States, in order to form a more perfect union. '.repeat(20));
    const r = run('eval', '--model', modelDir, '--data', text, '--seqlen', '32', '--json');
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1);
    const out = JSON.parse(lines[0]);
    assert.deepEqual(Object.keys(out).sort(), ['perplexity', 'seconds', 'tokens', 'windows']);
    assert.equal(out.tokens, out.windows * 32);
    // A random model over 8192 tokens is close to uniform.
    assert.ok(out.perplexity > 1000 && out.perplexity < 20000, String(out.perplexity));
  });
  it('multiple-choice task gives acc and acc_norm', () => {
    const task = join(work, 'task.jsonl');
    writeFileSync(
      task,
      [
        { context: 'The capital of France is', choices: ['Paris', 'a very long answer'], answer: 0 },
        { context: 'Two plus two is', choices: ['four', 'five'], answer: 1 },
      ]
        .map((r) => JSON.stringify(r))
        .join('\n'),
    );
    const r = run('eval', '--model', modelDir, '--task', task, '--json');
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.items, 2);
    assert.ok(out.acc >= 0 && out.acc <= 1 && out.acc_norm >= 0 && out.acc_norm <= 1);
  });
  it('bad input is one line and exit code 2 or 1, never a stack', () => {
    const cases: [string[], number][] = [
      [['eval', '--data', 'sotu:test'], 2],
      [['eval', '--model', modelDir, '--data', 'sotu:test', '--seqlen', 'x'], 2],
      [['eval', '--model', join(work, 'missing'), '--data', 'sotu:test'], 1],
      [['eval', '--model', modelDir, '--data', 'nope:split'], 1],
    ];
    for (const [args, code] of cases) {
      const r = run(...args);
      assert.equal(r.status, code, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
  });
});

describe('lithe generate', () => {
  it('greedy is deterministic and sampling follows the seed', () => {
    const greedy = () => run('generate', '--model', modelDir, '--prompt', 'Fellow citizens', '--max-tokens', '8');
    const a = greedy();
    assert.equal(a.status, 0, a.stderr);
    assert.ok(a.stdout.startsWith('Fellow citizens'));
    assert.equal(greedy().stdout, a.stdout);
    const sample = (seed: string) =>
      run(
        'generate',
        '--model',
        modelDir,
        '--prompt',
        'Fellow',
        '--max-tokens',
        '12',
        '--temperature',
        '1.5',
        '--top-k',
        '50',
        '--top-p',
        '0.95',
        '--seed',
        seed,
      ).stdout;
    assert.equal(sample('1'), sample('1'));
    assert.notEqual(sample('1'), sample('2'));
  });
});
