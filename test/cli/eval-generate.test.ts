import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadDecoder } from '../../src/io/checkpoint.js';
import { loadTokenizer } from '../../src/io/tokenizer.js';
import { generate } from '../../src/models/generate.js';
import { saveRandomModel } from '../helpers/random-model.js';

const bin = fileURLToPath(new URL('../../../bin/lithe.js', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'lithe-cli-'));
const modelDir = join(work, 'model');
const text = join(work, 'text.txt');
const run = (...args: string[]) =>
  spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, LITHE_BACKEND: 'ts' } });

before(async () => {
  await saveRandomModel(modelDir, { seed: 3 });
  writeFileSync(text, 'We the people of the United States, in order to form a more perfect union. '.repeat(20));
});
after(() => rmSync(work, { recursive: true, force: true }));

describe('lithe eval', () => {
  it('--json prints exactly one JSON object with the protocol fields', () => {
    const r = run('eval', '--model', modelDir, '--data', text, '--seqlen', '32', '--json');
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1);
    const out = JSON.parse(lines[0]);
    assert.deepEqual(Object.keys(out).sort(), [
      'data',
      'model',
      'perDocument',
      'perplexity',
      'seconds',
      'seqlen',
      'tokens',
      'windows',
    ]);
    assert.deepEqual([out.model, out.data, out.seqlen, out.perDocument], [modelDir, text, 32, false]);
    assert.equal(out.tokens, out.windows * 32);
    // A random model over 8192 tokens is close to uniform.
    assert.ok(out.perplexity > 1000 && out.perplexity < 20000, String(out.perplexity));
  });
  it('multiple-choice task gives acc and acc_norm', () => {
    const task = join(work, 'task.jsonl');
    writeFileSync(
      task,
      [
        { context: 'The capital of France is', choices: ['Paris', 'a very long answer'], answer: 0 },
        { context: 'Two plus two is', choices: ['four', 'five'], answer: 1 },
      ]
        .map((r) => JSON.stringify(r))
        .join('\n'),
    );
    const r = run('eval', '--model', modelDir, '--task', task, '--json', '--per-item');
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.items, 2);
    assert.equal(out.perItem.length, 2);
    for (const item of out.perItem) {
      assert.equal(item.logLikelihoods.length, 2);
      assert.equal(item.prediction, item.logLikelihoods[0] >= item.logLikelihoods[1] ? 0 : 1);
    }
    assert.deepEqual(
      out.perItem.map((i: { answer: number }) => i.answer),
      [0, 1],
    );
    assert.ok(out.acc >= 0 && out.acc <= 1 && out.acc_norm >= 0 && out.acc_norm <= 1);
  });
  it('bad input is one line and exit code 2 (usage: flags, files, corpora), never a stack', () => {
    const cases: [string[], number][] = [
      [['eval', '--data', 'sotu:test'], 2],
      [['eval', '--model', modelDir, '--data', 'sotu:test', '--seqlen', 'x'], 2],
      [['eval', '--model', join(work, 'missing'), '--data', 'sotu:test'], 2],
      [['eval', '--model', modelDir, '--data', 'nope:split'], 2],
      [['eval', '--model', modelDir, '--data', 'sotu:test', '--seqlen', '100000000'], 2],
      [['eval', '--model', modelDir, '--data', 'sotu:test', '--per-item'], 2],
    ];
    for (const [args, code] of cases) {
      const r = run(...args);
      assert.equal(r.status, code, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
  });
});

describe('lithe generate', () => {
  it('greedy is deterministic and sampling follows the seed', () => {
    const greedy = () => run('generate', '--model', modelDir, '--prompt', 'Fellow citizens', '--max-tokens', '8');
    const a = greedy();
    assert.equal(a.status, 0, a.stderr);
    assert.ok(a.stdout.startsWith('Fellow citizens'));
    assert.equal(greedy().stdout, a.stdout);
    const sample = (seed: string) =>
      run(
        'generate',
        '--model',
        modelDir,
        '--prompt',
        'Fellow',
        '--max-tokens',
        '12',
        '--temperature',
        '1.5',
        '--top-k',
        '50',
        '--top-p',
        '0.95',
        '--seed',
        seed,
      ).stdout;
    assert.equal(sample('1'), sample('1'));
    assert.notEqual(sample('1'), sample('2'));
  });

  it('validates every flag before printing anything', () => {
    const r = run('generate', '--model', modelDir, '--prompt', 'Fellow citizens', '--top-p', '1.5');
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /--top-p must be a number in \[0, 1\], got '1\.5'/);
  });

  it("encodes the prompt with the tokenizer's post-processor (BOS), as transformers does; empty starts from BOS", async () => {
    // A LLaMA-style tokenizer: TemplateProcessing puts BOS (id 0 here) before every sequence.
    const bosDir = join(work, 'bos-model');
    cpSync(modelDir, bosDir, { recursive: true });
    const json = JSON.parse(readFileSync(join(bosDir, 'tokenizer.json'), 'utf8'));
    json.post_processor = {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<|endoftext|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<|endoftext|>': { id: '<|endoftext|>', ids: [0], tokens: ['<|endoftext|>'] } },
    };
    writeFileSync(join(bosDir, 'tokenizer.json'), JSON.stringify(json));
    const model = await loadDecoder(bosDir);
    const tokenizer = loadTokenizer(bosDir);
    const greedy = (ids: Int32Array) => {
      const out: number[] = [];
      generate(model, ids, { maxNewTokens: 6, stopTokenIds: [0], onToken: (id) => out.push(id) });
      return tokenizer.decode(
        out.filter((id) => id !== 0),
        { skipSpecialTokens: true },
      );
    };
    const prompt = 'Fellow citizens';
    const plain = tokenizer.encode(prompt);
    const withBos = Int32Array.of(0, ...plain);
    const cli = (...args: string[]) => run('generate', '--model', bosDir, '--max-tokens', '6', ...args).stdout;
    assert.equal(cli('--prompt', prompt), `${prompt}${greedy(withBos)}\n`);
    assert.equal(cli('--prompt', prompt, '--no-special-tokens'), `${prompt}${greedy(plain)}\n`);
    assert.equal(cli('--prompt', ''), `${greedy(Int32Array.of(0))}\n`);
  });
});

describe('models from the local Hugging Face cache, and models lithe refuses to run', () => {
  it('--model org/name resolves refs/main (or --revision) in $HF_HOME/hub; a missing one says where lithe looked', () => {
    const home = join(work, 'hf-home');
    const repo = join(home, 'hub', 'models--lithe-test--tiny');
    const commit = 'a'.repeat(40);
    cpSync(modelDir, join(repo, 'snapshots', commit), { recursive: true });
    mkdirSync(join(repo, 'refs'), { recursive: true });
    writeFileSync(join(repo, 'refs', 'main'), commit);
    const env = { ...process.env, LITHE_BACKEND: 'ts', HF_HOME: home, HF_HUB_CACHE: '' };
    const evalArgs = ['eval', '--data', text, '--seqlen', '32', '--json'];
    const viaCache = spawnSync(process.execPath, [bin, ...evalArgs, '--model', 'lithe-test/tiny'], {
      encoding: 'utf8',
      env,
    });
    assert.equal(viaCache.status, 0, viaCache.stderr);
    const direct = JSON.parse(run(...evalArgs, '--model', modelDir).stdout);
    assert.equal(JSON.parse(viaCache.stdout).perplexity, direct.perplexity);
    const byCommit = spawnSync(
      process.execPath,
      [bin, ...evalArgs, '--model', 'lithe-test/tiny', '--revision', commit],
      {
        encoding: 'utf8',
        env,
      },
    );
    assert.equal(byCommit.status, 0, byCommit.stderr);
    const missing = spawnSync(process.execPath, [bin, ...evalArgs, '--model', 'lithe-test/absent'], {
      encoding: 'utf8',
      env,
    });
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /lithe-test\/absent.*hub\/models--lithe-test--absent/);
    assert.equal(missing.stderr.trim().split('\n').length, 1);
  });

  it('a NaN weight is named at load time (exit 2), not scored as perplexity NaN', () => {
    const bad = join(work, 'nan-model');
    cpSync(modelDir, bad, { recursive: true });
    const file = join(bad, 'model.safetensors');
    const bytes = readFileSync(file);
    const headerLength = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
    const [offset] = header['model.norm.weight'].data_offsets;
    bytes.writeFloatLE(Number.NaN, 8 + headerLength + offset);
    writeFileSync(file, bytes);
    const r = run('eval', '--model', bad, '--data', text, '--seqlen', '32');
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /model\.norm\.weight holds 1 NaN \/ Inf value/);
  });

  it('a config that contradicts the checkpoint is named before anything is sized from it', () => {
    const bad = join(work, 'many-layers');
    cpSync(modelDir, bad, { recursive: true });
    const config = JSON.parse(readFileSync(join(bad, 'config.json'), 'utf8'));
    writeFileSync(join(bad, 'config.json'), JSON.stringify({ ...config, num_hidden_layers: 100000 }));
    const r = run('eval', '--model', bad, '--data', text, '--seqlen', '32');
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /model\.layers\.1\..*missing from the checkpoint/);
  });

  it('a tokenizer larger than the embedding is refused before generating', () => {
    const bad = join(work, 'small-vocab');
    cpSync(modelDir, bad, { recursive: true });
    const config = JSON.parse(readFileSync(join(bad, 'config.json'), 'utf8'));
    writeFileSync(join(bad, 'config.json'), JSON.stringify({ ...config, vocab_size: 100 }));
    const r = run('generate', '--model', bad, '--prompt', 'Fellow citizens');
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /8192.*100|100.*8192/);
  });
});
