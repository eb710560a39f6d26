import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadTokenizer } from '../../src/io/tokenizer.js';

const bin = fileURLToPath(new URL('../../../bin/lithe.js', import.meta.url));
const goldenDir = fileURLToPath(new URL('../../../test/golden/bpe/', import.meta.url));
const corpus = join(goldenDir, 'corpus.jsonl');
const work = mkdtempSync(join(tmpdir(), 'lithe-tokenizer-cli-'));
after(() => rmSync(work, { recursive: true, force: true }));

const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
const train = (...args: string[]) => run('tokenizer', 'train', ...args);
const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8'));
/** A directory's files without lithe's own bookkeeping (.lithe-output.json). */
const visible = (dir: string) =>
  readdirSync(dir)
    .filter((f) => !f.startsWith('.'))
    .sort();

describe('lithe tokenizer train', () => {
  it("writes the tokenizer.json Python's BpeTrainer trains, a one-line summary and progress on stderr", () => {
    const out = join(work, 'vocab1000');
    const r = train('--corpus', corpus, '--vocab', '1000', '--out', out);
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      /^trained 1000 tokens \(743 merges\) on .*corpus\.jsonl \(22 documents\) in [\d.]+s; wrote /,
    );
    assert.equal(r.stdout.trim().split('\n').length, 1);
    assert.match(r.stderr, /bpe merges .* 100% 743\/743 tokens/);
    assert.deepEqual(visible(out), ['tokenizer.json']);
    assert.deepEqual(readJson(join(out, 'tokenizer.json')), readJson(join(goldenDir, 'python-vocab1000.json')));
    const tok = loadTokenizer(out);
    assert.equal(tok.bosTokenId, 0);
    assert.equal(tok.eosTokenId, 0);
  });

  it('takes --min-frequency and repeated --special, and keeps the other files of an existing --out', () => {
    const out = join(work, 'existing');
    mkdirSync(out);
    writeFileSync(join(out, 'config.json'), '{}');
    const r = train(
      '--overwrite',
      '--corpus',
      corpus,
      '--vocab',
      '100000',
      '--min-frequency',
      '6',
      '--special',
      '<|endoftext|>',
      '--special',
      '<|pad|>',
      '--out',
      out,
    );
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(visible(out), ['config.json', 'tokenizer.json']);
    assert.deepEqual(readJson(join(out, 'tokenizer.json')), readJson(join(goldenDir, 'python-min-frequency.json')));
  });

  it('exits 2 with one line on bad usage', () => {
    const r = run('tokenizer', 'train', '--corpus', 'sotu:nope', '--vocab', '1000', '--out', join(work, 'never'));
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /^lithe: .*sotu:nope.*\n$/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });

  it('turns every input mistake into one line and exit code 2 before writing anything', () => {
    const out = join(work, 'never');
    const cases: [string[], RegExp][] = [
      [[], /missing subcommand/],
      [['fit'], /unknown subcommand 'fit'/],
      [['train', '--corpus', corpus, '--vocab', '1000'], /--out DIR is required/],
      [['train', '--corpus', corpus, '--out', out], /--vocab N is required/],
      [['train', '--vocab', '1000', '--out', out], /--corpus SOURCE is required/],
      [['train', '--corpus', corpus, '--vocab', '256', '--out', out], /below the 257 tokens/],
      [['train', '--corpus', corpus, '--vocab', 'many', '--out', out], /--vocab must be an integer/],
      [['train', '--corpus', corpus, '--vocab', '300', '--min-frequency', '1.5', '--out', out], /--min-frequency/],
      [['train', '--corpus', corpus, '--vocab', '300', '--special', '', '--out', out], /--special needs a non-empty/],
      [['train', '--corpus', join(work, 'missing.txt'), '--vocab', '1000', '--out', out], /no such file/],
      [['train', '--corpus', corpus, '--vocab', '1000', '--out', out, '--frobnicate'], /frobnicate/],
    ];
    for (const [args, message] of cases) {
      const r = run('tokenizer', ...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, message);
    }
    assert.equal(existsSync(out), false);
  });
});
