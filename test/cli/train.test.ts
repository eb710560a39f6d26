import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadDecoder } from '../../src/io/checkpoint.js';

const bin = fileURLToPath(new URL('../../../bin/lithe.js', import.meta.url));
const tokenizer = fileURLToPath(new URL('../../../test/golden/tokenizer/tokenizer.json', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'lithe-train-cli-'));
after(() => rmSync(work, { recursive: true, force: true }));

const text = join(work, 'train.txt');
writeFileSync(text, 'The union is strong and the people are free.\n\n'.repeat(40));
const small = [
  '--layers',
  '1',
  '--hidden',
  '32',
  '--heads',
  '2',
  '--kv-heads',
  '1',
  '--intermediate',
  '64',
  '--seqlen',
  '16',
  '--batch',
  '2',
];
const run = (...args: string[]) => spawnSync(process.execPath, [bin, 'train', ...args], { encoding: 'utf8' });

describe('lithe train', () => {
  it('trains from a preset with overrides and writes metrics, a checkpoint and the final model', async () => {
    const out = join(work, 'run');
    const r = run('--out', out, '--tokenizer', tokenizer, '--data', text, ...small, '--steps', '6', '--log-every', '2');
    assert.equal(r.status, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.equal(result.stopped, 'completed');
    assert.equal(result.step, 6);
    const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      metrics.map((m) => m.step),
      [2, 4, 6],
    );
    assert.ok(existsSync(join(out, 'checkpoint', 'trainer-state.json')));
    const model = await loadDecoder(join(out, 'model'));
    assert.equal(model.config.numLayers, 1);
    assert.ok(existsSync(join(out, 'model', 'tokenizer.json')));
    // --resume continues to a larger step count from the checkpoint.
    const more = run('--out', out, '--tokenizer', tokenizer, '--data', text, ...small, '--steps', '8', '--resume');
    assert.equal(more.status, 0, more.stderr);
    assert.equal(JSON.parse(more.stdout).step, 8);
  });
  it('bad flags exit 2 with one line', () => {
    for (const args of [
      ['--tokenizer', tokenizer],
      ['--out', join(work, 'x')],
      ['--out', join(work, 'x'), '--tokenizer', tokenizer, '--preset', 'huge'],
      ['--out', join(work, 'x'), '--tokenizer', tokenizer, '--steps', '0'],
    ]) {
      const r = run(...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  });
});
