import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { corpusCalibration, PruneError, textLinesCalibration } from '../../src/compress/prune/index.js';
import { loadTokenizer } from '../../src/io/tokenizer.js';

const tokenizer = loadTokenizer(fileURLToPath(new URL('../../../test/golden/tokenizer/', import.meta.url)));

const SHORT = 'A short line.';
const LONG_A = 'The quick brown fox jumps over the lazy dog, and then it runs far away into the green forest. '.repeat(
  3,
);
const LONG_B = 'Four score and seven years ago our fathers brought forth on this continent a new nation. '.repeat(3);

/** Whether window occurs as a contiguous run of ids. */
function occursIn(ids: Int32Array, window: Int32Array): boolean {
  for (let s = 0; s + window.length <= ids.length; s++) {
    if (window.every((v, i) => ids[s + i] === v)) return true;
  }
  return false;
}

describe('corpusCalibration', () => {
  const seqlen = 16;

  it('draws seeded windows of seqlen tokens from documents longer than seqlen', () => {
    const documents = [SHORT, LONG_A, SHORT, LONG_B];
    const samples = corpusCalibration(tokenizer, documents, { nsamples: 20, seqlen, seed: 3 });
    assert.equal(samples.length, 20);
    const long = [LONG_A, LONG_B].map((doc) => tokenizer.encode(doc));
    assert.ok(long.every((ids) => ids.length > seqlen));
    for (const sample of samples) {
      assert.equal(sample.length, seqlen);
      assert.ok(long.some((ids) => occursIn(ids, sample)));
    }
    assert.deepEqual(corpusCalibration(tokenizer, documents, { nsamples: 20, seqlen, seed: 3 }), samples);
    assert.notDeepEqual(corpusCalibration(tokenizer, documents, { nsamples: 20, seqlen, seed: 4 }), samples);
    assert.equal(corpusCalibration(tokenizer, documents, { seqlen }).length, 128);
  });

  it("never takes a document's last token (as the reference)", () => {
    const ids = tokenizer.encode(LONG_A);
    const samples = corpusCalibration(tokenizer, [LONG_A], { nsamples: 5, seqlen: ids.length - 1 });
    for (const sample of samples) assert.deepEqual(sample, ids.slice(0, ids.length - 1));
  });

  it('names the problem when no document is long enough', () => {
    const tooLong = tokenizer.encode(LONG_A).length;
    assert.throws(
      () => corpusCalibration(tokenizer, [SHORT, LONG_A], { seqlen: tooLong }),
      (err: Error) => err instanceof PruneError && /none of the 2 documents has more than seqlen/.test(err.message),
    );
    assert.throws(() => corpusCalibration(tokenizer, [LONG_A], { seqlen: 0 }), PruneError);
  });
});

describe('textLinesCalibration', () => {
  it('takes the first seqlen tokens of each line', () => {
    const samples = textLinesCalibration(tokenizer, [LONG_A, LONG_B], { seqlen: 8 });
    assert.deepEqual(
      samples,
      [LONG_A, LONG_B].map((line) => tokenizer.encode(line).slice(0, 8)),
    );
  });

  it('names a line that is too short', () => {
    assert.throws(
      () => textLinesCalibration(tokenizer, [LONG_A, SHORT, LONG_B], { seqlen: 8 }),
      (err: Error) => err instanceof PruneError && /line 2 has \d+ tokens, fewer than seqlen = 8/.test(err.message),
    );
  });
});
