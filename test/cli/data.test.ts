import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';
import { arithmeticPreferences, arithmeticSft, readPreferenceRows, readSftRows } from '../../src/data/preference.js';

const bin = fileURLToPath(new URL('../../../bin/lithe.js', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'lithe-data-arithmetic-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('lithe data arithmetic', () => {
  it('writes preference pairs as JSONL, the same as the library, and says what it wrote', () => {
    const out = join(scratch, 'nested', 'prefs.jsonl');
    const r = spawnSync(
      process.execPath,
      [
        bin,
        'data',
        'arithmetic',
        '--format',
        'preference',
        '--n',
        '40',
        '--ties',
        '0.25',
        '--seed',
        '3',
        '--split',
        'val',
        '--out',
        out,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `wrote 40 preference rows (10 ties) of the val split to ${out}\n`);
    const rows = arithmeticPreferences(40, { ties: 0.25, seed: 3, split: 'val' });
    assert.deepEqual(readPreferenceRows(out), rows);
    assert.equal(readFileSync(out, 'utf8'), rows.map((row) => `${JSON.stringify(row)}\n`).join(''));
    assert.deepEqual(readdirSync(join(scratch, 'nested')), ['prefs.jsonl']);
  });

  it('writes SFT rows, by default from the train split with seed 0', async (t) => {
    const write = t.mock.method(process.stdout, 'write', () => true);
    const out = join(scratch, 'sft.jsonl');
    assert.equal(await main(['data', 'arithmetic', '--format', 'sft', '--n', '12', '--out', out]), 0);
    assert.deepEqual(readSftRows(out), arithmeticSft(12));
    assert.equal(String(write.mock.calls[0].arguments[0]), `wrote 12 SFT rows of the train split to ${out}\n`);
  });

  it('refuses an existing file, leaving it as it was', async (t) => {
    const errors = t.mock.method(process.stderr, 'write', () => true);
    const out = join(scratch, 'mine.jsonl');
    writeFileSync(out, 'my notes\n');
    assert.equal(await main(['data', 'arithmetic', '--format', 'sft', '--n', '3', '--out', out]), 2);
    assert.equal(readFileSync(out, 'utf8'), 'my notes\n');
    assert.equal(errors.mock.callCount(), 1);
    assert.match(String(errors.mock.calls[0].arguments[0]), /already exists; lithe does not replace a file/);
  });

  it('exits 2 with one line for bad flags, writing nothing', async (t) => {
    const out = join(scratch, 'never.jsonl');
    const errors = t.mock.method(process.stderr, 'write', () => true);
    const base = ['--n', '5', '--out', out];
    for (const [args, message] of [
      [['--n', '5', '--out', out], /--format sft\|preference is required/],
      [['--format', 'dpo', ...base], /--format must be one of sft, preference, got 'dpo'/],
      [['--format', 'sft', '--out', out], /--n N is required/],
      [['--format', 'sft', '--n', '0', '--out', out], /--n must be an integer in \[1, /],
      [['--format', 'sft', '--ties', '0.2', ...base], /--ties applies only to --format preference/],
      [['--format', 'preference', '--ties', '1.5', ...base], /--ties must be a number in \[0, 1\], got '1.5'/],
      [['--format', 'preference', '--ties', '-0.1', ...base], /--ties must be a number in \[0, 1\]/],
      [['--format', 'preference', '--split', 'dev', ...base], /--split must be one of train, val, test/],
      [['--format', 'preference', '--n', '5'], /--out FILE is required/],
      [['--format', 'preference', '--seed', '-1', ...base], /--seed must be an integer in \[0, /],
    ] as [string[], RegExp][]) {
      errors.mock.resetCalls();
      assert.equal(await main(['data', 'arithmetic', ...args]), 2, args.join(' '));
      assert.equal(errors.mock.callCount(), 1, args.join(' '));
      assert.match(String(errors.mock.calls[0].arguments[0]), message);
    }
    assert.ok(!existsSync(out));
  });
});
