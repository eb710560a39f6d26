import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { main } from '../../src/cli/main.js';
import { loadCorpus } from '../../src/data/corpora.js';

const scratch = mkdtempSync(join(tmpdir(), 'lithe-export-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('lithe data export', () => {
  it('writes the split as plain text, one blank line between documents, leaving no temp file', async (t) => {
    const write = t.mock.method(process.stdout, 'write', () => true);
    const out = join(scratch, 'nested', 'sotu-test.txt');
    assert.equal(await main(['data', 'export', '--corpus', 'sotu:test', '--out', out]), 0);
    const text = readFileSync(out, 'utf8');
    const documents = loadCorpus('sotu:test').documents;
    assert.equal(text, documents.join('\n'));
    assert.equal(text.split('\n\n').length, 12);
    assert.ok(text.startsWith('Madam Speaker, Vice President Biden'));
    assert.deepEqual(readdirSync(join(scratch, 'nested')), ['sotu-test.txt']);
    assert.match(String(write.mock.calls[0].arguments[0]), /^wrote 12 documents .* of sotu:test to /);
  });

  it('refuses an existing file, leaving it as it was', async (t) => {
    const errors = t.mock.method(process.stderr, 'write', () => true);
    const out = join(scratch, 'moby.txt');
    writeFileSync(out, 'my notes\n');
    assert.equal(await main(['data', 'export', '--corpus', 'moby:test', '--out', out]), 2);
    assert.equal(readFileSync(out, 'utf8'), 'my notes\n');
    assert.match(String(errors.mock.calls[0].arguments[0]), /already exists; lithe does not replace a file/);
  });

  it('exits 2 with one line for bad usage and unknown corpora', async (t) => {
    const out = join(scratch, 'x.txt');
    const errors = t.mock.method(process.stderr, 'write', () => true);
    for (const [args, message] of [
      [[], /missing subcommand/],
      [['import'], /unknown subcommand 'import'/],
      [['export', '--corpus', 'sotu:test'], /--out FILE is required/],
      [['export', '--out', out, '--bogus'], /unknown flag '--bogus'/],
      [['export', '--corpus', 'sotu:nope', '--out', out], /sotu:nope/],
    ] as [string[], RegExp][]) {
      errors.mock.resetCalls();
      assert.equal(await main(['data', ...args]), 2, args.join(' '));
      assert.equal(errors.mock.callCount(), 1);
      assert.match(String(errors.mock.calls[0].arguments[0]), message);
    }
  });
});
