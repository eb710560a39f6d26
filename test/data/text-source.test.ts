import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DataError, loadCorpus } from '../../src/data/corpora.js';
import { formatDocuments, loadTextSource, splitDocuments } from '../../src/data/text-source.js';

const scratch = mkdtempSync(join(tmpdir(), 'lithe-text-source-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(scratch, name);
  writeFileSync(path, text);
  return path;
}

describe('.txt sources', () => {
  it('splits documents at blank lines and ends each with a newline', () => {
    assert.deepEqual(splitDocuments('one line'), ['one line\n']);
    assert.deepEqual(splitDocuments('a\nb\n'), ['a\nb\n']);
    assert.deepEqual(splitDocuments('\n\nfirst\nstill first\n\n\n  \t\nsecond  \n\n'), [
      'first\nstill first\n',
      'second  \n',
    ]);
    assert.deepEqual(splitDocuments('crlf\r\n\r\nlines\r\n'), ['crlf\n', 'lines\n']);
    assert.deepEqual(splitDocuments('  indented\n\n   \n'), ['  indented\n']);
    assert.deepEqual(splitDocuments(' \n\n\t\n'), []);
  });

  it('reads back what formatDocuments writes', () => {
    const { documents } = loadCorpus('sotu:test');
    const text = formatDocuments(documents);
    assert.equal(text, documents.join('\n'));
    assert.deepEqual(splitDocuments(text), documents);
    assert.equal(formatDocuments(['a', 'b\n']), 'a\n\nb\n');
    assert.equal(formatDocuments([]), '');
  });

  it('loads a .txt file, named by its path', () => {
    const path = file('two.txt', 'Call me Ishmael.\n\nSome years ago.\n');
    assert.deepEqual(loadTextSource(path), { name: path, documents: ['Call me Ishmael.\n', 'Some years ago.\n'] });
  });
});

describe('.jsonl sources', () => {
  it('takes one document per row, as is, skipping blank lines', () => {
    const path = file(
      'rows.jsonl',
      '{"text": "first"}\n\n{"text": "second\\n\\nstill second", "id": 2}\n{"text": ""}\n',
    );
    assert.deepEqual(loadTextSource(path).documents, ['first', 'second\n\nstill second', '']);
  });

  it('names the file and line of a bad row', () => {
    const badJson = file('bad.jsonl', '{"text": "ok"}\n\n{"text": oops}\n');
    assert.throws(
      () => loadTextSource(badJson),
      (err) => err instanceof DataError && err.message.startsWith(`${badJson}:3: invalid JSON`),
    );
    const noText = file('notext.jsonl', '{"text": "ok"}\n{"body": "x"}\n');
    assert.throws(
      () => loadTextSource(noText),
      (err) => (err as Error).message === `${noText}:2: expected an object with a string "text"`,
    );
    const notObject = file('number.jsonl', '42\n');
    assert.throws(() => loadTextSource(notObject), /number\.jsonl:1: expected an object/);
    const nullRow = file('null.jsonl', 'null\n');
    assert.throws(() => loadTextSource(nullRow), /null\.jsonl:1: expected an object/);
  });
});

describe('loadTextSource', () => {
  it('loads embedded corpora by name', () => {
    assert.deepEqual(loadTextSource('sotu:val'), loadCorpus('sotu:val'));
  });

  it('fails with a DataError for unknown corpora, missing files and other formats', () => {
    assert.throws(
      () => loadTextSource('wiki:test'),
      (err) => err instanceof DataError && /valid: sotu:train/.test(err.message),
    );
    const missing = join(scratch, 'missing.txt');
    assert.throws(
      () => loadTextSource(missing),
      (err) => err instanceof DataError && err.message === `${missing}: no such file`,
    );
    assert.throws(() => loadTextSource(join(scratch, 'data.csv')), /neither a corpus .* nor a \.txt or \.jsonl file/);
  });
});

describe('several sources', () => {
  it('joins comma-separated sources into one corpus, in order', () => {
    const path = file('extra.txt', 'One more.\n');
    const joined = loadTextSource(`sotu:val, ${path}`);
    assert.equal(joined.name, `sotu:val, ${path}`);
    assert.deepEqual(joined.documents, [...loadCorpus('sotu:val').documents, 'One more.\n']);
  });

  it('reads a file whose name holds a comma as that file', () => {
    const path = file('a,b.txt', 'Comma.\n');
    assert.deepEqual(loadTextSource(path).documents, ['Comma.\n']);
  });

  it('refuses an empty part and names a bad one', () => {
    assert.throws(() => loadTextSource('sotu:val,,moby:test'), /empty source between its commas/);
    assert.throws(() => loadTextSource('sotu:val,wiki:test'), /unknown corpus 'wiki:test'/);
  });
});
