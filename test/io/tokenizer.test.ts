import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadCorpus } from '../../src/data/corpora.js';
import { checkTokenizerFits, encodeDocuments, loadTokenizer, TokenizerError } from '../../src/io/tokenizer.js';
import { parseDecoderConfig } from '../../src/models/llama/config.js';

const goldenDir = fileURLToPath(new URL('../../../test/golden/tokenizer/', import.meta.url));
const tokenizerFile = join(goldenDir, 'tokenizer.json');

interface Golden {
  vocab_size: number;
  cases: { text: string; ids: number[]; decoded?: string }[];
  special_cases: { text: string; ids: number[] }[];
  decode_cases: { ids: number[]; text: string; skip?: boolean }[];
  documents: Record<string, { count: number; sha256: string }[]>;
}
const golden = JSON.parse(readFileSync(join(goldenDir, 'llama-ref-ids.json'), 'utf8')) as Golden;
const tok = loadTokenizer(tokenizerFile);

const scratch = mkdtempSync(join(tmpdir(), 'lithe-tokenizer-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** A fresh directory holding the llama-ref tokenizer.json plus the given JSON files. */
function writeDir(dir: string, files: Record<string, unknown>): string {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  copyFileSync(tokenizerFile, join(dir, 'tokenizer.json'));
  for (const [file, json] of Object.entries(files)) writeFileSync(join(dir, file), JSON.stringify(json));
  return dir;
}

describe('llama-ref tokenizer against Python tokenizers', () => {
  it('encodes every golden text to exactly the Python ids', () => {
    for (const { text, ids } of golden.cases) {
      assert.deepEqual(Array.from(tok.encode(text)), ids, JSON.stringify(text));
    }
  });

  it('decodes the ids back as Python does', () => {
    for (const { text, ids, decoded } of golden.cases) {
      assert.equal(tok.decode(Int32Array.from(ids)), decoded ?? text, JSON.stringify(text));
    }
    for (const { ids, text, skip } of golden.decode_cases) {
      assert.equal(tok.decode(ids, { skipSpecialTokens: skip === true }), text, JSON.stringify(ids));
    }
  });

  it('adds special tokens as Python does (the ByteLevel post-processor adds none)', () => {
    for (const { text, ids } of golden.special_cases) {
      assert.deepEqual(Array.from(tok.encode(text, { addSpecialTokens: true })), ids, text);
    }
  });

  it('encodes whole test documents to the Python ids (count and SHA-256 of every id)', () => {
    for (const [name, expected] of Object.entries(golden.documents)) {
      const { documents } = loadCorpus(name);
      assert.equal(documents.length, expected.length, name);
      documents.forEach((doc, i) => {
        const ids = tok.encode(doc);
        const digest = createHash('sha256').update(new Uint8Array(ids.buffer)).digest('hex');
        assert.deepEqual({ count: ids.length, sha256: digest }, expected[i], `${name} document ${i}`);
      });
    }
  });

  it('encodes a corpus as llama-ref saw it: each document, then <|endoftext|>', () => {
    const documents = loadCorpus('sotu:val').documents.slice(0, 2);
    const ids = encodeDocuments(tok, documents);
    const first = tok.encode(documents[0]);
    const second = tok.encode(documents[1]);
    assert.deepEqual(ids, Int32Array.from([...first, 0, ...second, 0]));
    assert.deepEqual(encodeDocuments(tok, []), new Int32Array(0));
  });

  it('reports the vocabulary size and <|endoftext|> as BOS and EOS', () => {
    assert.equal(tok.vocabSize, golden.vocab_size);
    assert.equal(tok.bosTokenId, 0);
    assert.equal(tok.eosTokenId, 0);
    assert.ok(tok.encode('hello') instanceof Int32Array);
  });
});

describe('loadTokenizer', () => {
  it('loads from a directory and takes BOS/EOS from tokenizer_config.json, then config.json', () => {
    const fromConfig = loadTokenizer(
      writeDir(join(scratch, 'cfg'), { 'config.json': { bos_token_id: 5, eos_token_id: 7 } }),
    );
    assert.equal(fromConfig.bosTokenId, 5);
    assert.equal(fromConfig.eosTokenId, 7);
    const fromTokenizerConfig = loadTokenizer(
      writeDir(join(scratch, 'tcfg'), {
        'tokenizer_config.json': { bos_token: '<|endoftext|>', eos_token: { content: '<|endoftext|>' } },
        'config.json': { bos_token_id: 5, eos_token_id: 7 },
      }),
    );
    assert.equal(fromTokenizerConfig.bosTokenId, 0);
    assert.equal(fromTokenizerConfig.eosTokenId, 0);
  });

  it('saves tokenizer.json (and tokenizer_config.json) byte for byte', () => {
    const dir = writeDir(join(scratch, 'save-src'), { 'tokenizer_config.json': { model_max_length: 1024 } });
    const out = join(scratch, 'saved', 'nested');
    loadTokenizer(dir).save(out);
    assert.deepEqual(readFileSync(join(out, 'tokenizer.json')), readFileSync(tokenizerFile));
    assert.deepEqual(
      readFileSync(join(out, 'tokenizer_config.json')),
      readFileSync(join(dir, 'tokenizer_config.json')),
    );
    assert.deepEqual(JSON.parse(JSON.stringify(tok)), JSON.parse(readFileSync(tokenizerFile, 'utf8')));
  });

  it('decodes an empty list to the empty string and rejects ids outside the vocabulary', () => {
    assert.equal(tok.decode([]), '');
    assert.throws(() => tok.decode([golden.vocab_size]), TokenizerError);
    assert.throws(() => tok.decode([-1]), /cannot decode id -1/);
  });

  it('names the file when it is missing or malformed', () => {
    const missing = join(scratch, 'nowhere', 'tokenizer.json');
    assert.throws(
      () => loadTokenizer(missing),
      (err) => err instanceof TokenizerError && err.file === missing,
    );
    const bad = join(scratch, 'bad.json');
    writeFileSync(bad, '{"model": ');
    assert.throws(
      () => loadTokenizer(bad),
      (err) => err instanceof TokenizerError && /bad\.json: invalid JSON/.test(err.message),
    );
    writeFileSync(bad, '{"version": "1.0"}');
    assert.throws(() => loadTokenizer(bad), /not a tokenizer\.json/);
    writeFileSync(bad, JSON.stringify({ model: { type: 'Nope' } }));
    assert.throws(() => loadTokenizer(bad), /bad\.json: cannot build the tokenizer/);
  });
});

describe('checkTokenizerFits', () => {
  const config = (vocabSize: number) =>
    parseDecoderConfig({
      architectures: ['LlamaForCausalLM'],
      vocab_size: vocabSize,
      hidden_size: 8,
      intermediate_size: 16,
      num_hidden_layers: 1,
      num_attention_heads: 2,
    });

  it('passes a tokenizer whose ids all have an embedding row', () => {
    assert.equal(tok.vocabSize, 8192);
    checkTokenizerFits(tok, config(8192), 'model');
    checkTokenizerFits(tok, config(8200), 'model');
  });

  it('refuses one with more ids than the embedding, naming both sizes and the model', () => {
    assert.throws(
      () => checkTokenizerFits(tok, config(4096), 'models/lithe-tiny'),
      (err: unknown) =>
        err instanceof TokenizerError &&
        err.file === tokenizerFile &&
        err.message ===
          `${tokenizerFile}: has 8192 token ids (the largest is 8191), more than the 4096 of the model in ` +
            "models/lithe-tiny (config.json vocab_size): use the model's own tokenizer",
    );
  });

  it('counts added special tokens beyond the base vocabulary', () => {
    const json = JSON.parse(readFileSync(tokenizerFile, 'utf8'));
    json.added_tokens.push({
      id: 8200,
      content: '<|pad|>',
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    });
    const dir = join(scratch, 'added');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(json));
    const added = loadTokenizer(dir);
    assert.equal(added.vocabSize, 8201);
    checkTokenizerFits(added, config(8201), dir);
    assert.throws(
      () => checkTokenizerFits(added, config(8192), dir),
      /has 8201 token ids \(the largest is 8200\), more than the 8192/,
    );
  });
});
