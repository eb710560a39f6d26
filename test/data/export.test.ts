import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { data } from '../../src/cli/data.js';
import { DataError, loadCorpus } from '../../src/data/corpora.js';
import { UsageError } from '../../src/engine/errors.js';

const scratch = mkdtempSync(join(tmpdir(), 'lithe-export-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('lithe data export', () => {
  it('writes the split as plain text, one blank line between documents, leaving no temp file', (t) => {
    const write = t.mock.method(process.stdout, 'write', () => true);
    const out = join(scratch, 'nested', 'sotu-test.txt');
    assert.equal(data(['export', '--corpus', 'sotu:test', '--out', out]), 0);
    const text = readFileSync(out, 'utf8');
    const documents = loadCorpus('sotu:test').documents;
    assert.equal(text, documents.join('\n'));
    assert.equal(text.split('\n\n').length, 12);
    assert.ok(text.startsWith('Madam Speaker, Vice President Biden'));
    assert.deepEqual(readdirSync(join(scratch, 'nested')), ['sotu-test.txt']);
    assert.match(String(write.mock.calls[0].arguments[0]), /^wrote 12 documents .* of sotu:test to /);
  });

  it('overwrites an existing file', (t) => {
    t.mock.method(process.stdout, 'write', () => true);
    const out = join(scratch, 'moby.txt');
    data(['export', '--corpus', 'moby:test', '--out', out]);
    data(['export', '--corpus', 'sotu:val', '--out', out]);
    assert.equal(readFileSync(out, 'utf8'), loadCorpus('sotu:val').documents.join('\n'));
  });

  it('rejects bad usage with a UsageError and unknown corpora with a DataError', () => {
    const out = join(scratch, 'x.txt');
    assert.throws(
      () => data([]),
      (err) => err instanceof UsageError && /missing subcommand/.test(err.message),
    );
    assert.throws(
      () => data(['import']),
      (err) => err instanceof UsageError && /unknown subcommand 'import'/.test(err.message),
    );
    assert.throws(() => data(['export', '--corpus', 'sotu:test']), UsageError);
    assert.throws(() => data(['export', '--out', out, '--bogus']), UsageError);
    assert.throws(() => data(['export', '--corpus', 'sotu:nope', '--out', out]), DataError);
  });
});
