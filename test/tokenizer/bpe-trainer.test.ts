import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadTextSource } from '../../src/data/text-source.js';
import type { Progress } from '../../src/engine/progress.js';
import { loadTokenizer, TokenizerError } from '../../src/io/tokenizer.js';
import {
  BpeTrainingError,
  saveTokenizerJson,
  type TrainBpeOptions,
  trainBpe,
} from '../../src/tokenizer/bpe-trainer.js';
import { BYTE_TO_CHAR, preTokenize } from '../../src/tokenizer/byte-level.js';

const goldenDir = fileURLToPath(new URL('../../../test/golden/bpe/', import.meta.url));
const readGolden = (file: string) => JSON.parse(readFileSync(join(goldenDir, file), 'utf8'));
const corpus = loadTextSource(join(goldenDir, 'corpus.jsonl')).documents;

// The settings tools/make_bpe_golden.py trained Python's BpeTrainer with (its CONFIGS).
const CONFIGS: Record<string, TrainBpeOptions> = {
  vocab1000: { vocabSize: 1000 },
  'min-frequency': { vocabSize: 100_000, minFrequency: 6, specialTokens: ['<|endoftext|>', '<|pad|>'] },
};

interface EncodingGolden {
  vocab_size: number;
  cases: { text: string; ids: number[]; decoded?: string }[];
}

const scratch = mkdtempSync(join(tmpdir(), 'lithe-bpe-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('trainBpe against Python tokenizers', () => {
  for (const [name, options] of Object.entries(CONFIGS)) {
    it(`trains the tokenizer.json Python's BpeTrainer trains (${name}): vocab, merges and every other field`, () => {
      const expected = readGolden(`python-${name}.json`);
      const trained = trainBpe(corpus, options);
      assert.deepEqual(trained.model.merges, expected.model.merges);
      assert.deepEqual(trained, expected);
    });
  }

  it('encodes and decodes with its own tokenizer.json exactly as Python tokenizers does', () => {
    const golden = readGolden('encodings.json') as EncodingGolden;
    const file = saveTokenizerJson(trainBpe(corpus, CONFIGS.vocab1000), join(scratch, 'golden'));
    const tok = loadTokenizer(file);
    assert.equal(tok.vocabSize, golden.vocab_size);
    for (const { text, ids, decoded } of golden.cases) {
      assert.deepEqual(Array.from(tok.encode(text)), ids, JSON.stringify(text));
      assert.equal(tok.decode(Int32Array.from(ids)), decoded ?? text, JSON.stringify(text));
    }
  });
});

describe('trainBpe', () => {
  it('is deterministic and does not depend on document order', () => {
    const first = JSON.stringify(trainBpe(corpus, { vocabSize: 700 }));
    assert.equal(JSON.stringify(trainBpe(corpus, { vocabSize: 700 })), first);
    assert.deepEqual(trainBpe([...corpus].reverse(), { vocabSize: 700 }), JSON.parse(first));
  });

  it('fills the vocabulary exactly: special tokens, the 256 byte characters, one token per merge', () => {
    const { model, added_tokens } = trainBpe(corpus, { vocabSize: 600 });
    const vocab = new Map(Object.entries(model.vocab));
    assert.equal(vocab.size, 600);
    assert.deepEqual(
      [...vocab.values()].sort((a, b) => a - b),
      [...Array(600).keys()],
    );
    assert.equal(model.merges.length, 600 - 257);
    for (const char of BYTE_TO_CHAR) assert.ok(vocab.has(char), char);
    assert.equal(vocab.get('!'), 1, 'the alphabet follows the special tokens in code-point order');
    model.merges.forEach(([a, b], rank) => {
      assert.equal(vocab.get(a + b), 257 + rank, `${a} ${b}`);
    });
    assert.deepEqual(added_tokens, [
      {
        id: 0,
        content: '<|endoftext|>',
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: true,
      },
    ]);
  });

  it('gives special tokens ids 0, 1, ... and loads with <|endoftext|> as BOS and EOS', () => {
    const specials = ['<|pad|>', '<|endoftext|>', '<mask>'];
    const trained = trainBpe(corpus, { vocabSize: 400, specialTokens: specials });
    assert.deepEqual(
      trained.added_tokens.map((t) => [t.id, t.content, t.special]),
      specials.map((s, i) => [i, s, true]),
    );
    const tok = loadTokenizer(saveTokenizerJson(trained, join(scratch, 'specials')));
    assert.equal(tok.bosTokenId, 1);
    assert.equal(tok.eosTokenId, 1);
    assert.deepEqual(Array.from(tok.encode('a<mask>b<|pad|>')), [tok.encode('a')[0], 2, tok.encode('b')[0], 0]);

    const plain = trainBpe(corpus, { vocabSize: 300, specialTokens: [] });
    assert.deepEqual(plain.added_tokens, []);
    assert.equal(plain.model.vocab['!'], 0);
    const plainTok = loadTokenizer(saveTokenizerJson(plain, join(scratch, 'plain')));
    assert.equal(plainTok.eosTokenId, null);
  });

  it('round-trips any text through encode and decode', () => {
    const tok = loadTokenizer(saveTokenizerJson(trainBpe(corpus, { vocabSize: 500 }), join(scratch, 'round-trip')));
    for (const text of ['', 'The Congress, 1790–1999.\n', 'unseen bytes: \u0000\u00ff 😀 𝄞 ١٢٣', ...corpus.slice(-3)]) {
      assert.equal(tok.decode(tok.encode(text)), text);
    }
  });

  it('stops at minFrequency or when no pair is left, and reports progress to the end', () => {
    const progress: Progress[] = [];
    const trained = trainBpe(['abab abab ab'], { vocabSize: 1000, onProgress: (p) => progress.push(p) });
    // Python's order: ab (5), then the tie at 2 goes to the smaller pair of ids ('Ġ' 221 < 'ab' 257), then the tie at 1.
    assert.deepEqual(trained.model.merges, [
      ['a', 'b'],
      ['Ġ', 'ab'],
      ['ab', 'ab'],
      ['Ġab', 'ab'],
    ]);
    const last = progress.at(-1);
    assert.deepEqual([last?.phase, last?.done, last?.total], ['bpe merges', 4, 4]);
    assert.ok(progress.some((p) => p.phase === 'bpe word counts' && p.done === 1 && p.total === 1));
    assert.deepEqual(trainBpe(['abab abab ab'], { vocabSize: 1000, minFrequency: 3 }).model.merges, [['a', 'b']]);
    assert.deepEqual(trainBpe([], { vocabSize: 1000 }).model.merges, []);
  });

  it('rejects a vocabulary smaller than its alphabet and bad options', () => {
    assert.throws(() => trainBpe(corpus, { vocabSize: 256 }), BpeTrainingError);
    assert.throws(
      () => trainBpe(corpus, { vocabSize: 257, specialTokens: ['<a>', '<b>'] }),
      /vocabSize 257 is below the 258 tokens/,
    );
    assert.equal(Object.keys(trainBpe(corpus, { vocabSize: 257 }).model.vocab).length, 257);
    for (const vocabSize of [0, -5, 1.5, Number.NaN, 2 ** 27]) {
      assert.throws(() => trainBpe(corpus, { vocabSize }), /vocabSize must be an integer/);
    }
    assert.throws(() => trainBpe(corpus, { vocabSize: 300, minFrequency: -1 }), /minFrequency/);
    assert.throws(() => trainBpe(corpus, { vocabSize: 300, specialTokens: [''] }), /cannot be empty/);
    assert.throws(() => trainBpe(corpus, { vocabSize: 300, specialTokens: ['<s>', '<s>'] }), /listed twice/);
  });

  it('saveTokenizerJson names the file it cannot write', () => {
    const blocker = join(scratch, 'a-file');
    writeFileSync(blocker, 'not a directory');
    assert.throws(
      () => saveTokenizerJson(trainBpe([], { vocabSize: 300 }), join(blocker, 'out')),
      (err) => err instanceof TokenizerError && err.file === join(blocker, 'out', 'tokenizer.json'),
    );
  });
});

describe('byte-level alphabet and split', () => {
  it('maps every byte to a distinct visible character, as GPT-2 does', () => {
    assert.equal(new Set(BYTE_TO_CHAR).size, 256);
    assert.equal(BYTE_TO_CHAR[0x41], 'A');
    assert.equal(BYTE_TO_CHAR[0x20], 'Ġ');
    assert.equal(BYTE_TO_CHAR[0x0a], 'Ċ');
    assert.equal(BYTE_TO_CHAR[0xad], 'Ń');
  });

  it("splits contractions, letters, digits, symbols and whitespace as GPT-2's pattern does", () => {
    assert.deepEqual(preTokenize("I'm here  in 1790, ok?\n\n"), [
      'I',
      "'m",
      ' here',
      ' ',
      ' in',
      ' 1790',
      ',',
      ' ok',
      '?',
      '\n\n',
    ]);
    assert.deepEqual(preTokenize(''), []);
  });
});
