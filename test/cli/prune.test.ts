import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadDecoder } from '../../src/io/checkpoint.js';
import type { DecoderForCausalLM } from '../../src/models/llama/model.js';
import { Linear } from '../../src/nn/linear.js';
import { saveRandomModel } from '../helpers/random-model.js';

const bin = fileURLToPath(new URL('../../../bin/lithe.js', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'lithe-prune-'));
const modelDir = join(work, 'model');
const calibText = join(work, 'calib.txt');
const evalText = join(work, 'eval.txt');
const shortText = join(work, 'short.txt');
const run = (...args: string[]) =>
  spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, LITHE_BACKEND: 'ts' } });
// Small calibration and eval settings so each run takes well under a second.
const fast = ['--calib', calibText, '--nsamples', '4', '--seqlen', '16'];
const prune = (out: string, ...args: string[]) =>
  run('prune', '--model', modelDir, '--out', join(work, out), ...fast, ...args);
const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8'));

before(async () => {
  // A small random LLaMA (bf16 on disk) with the reference tokenizer's vocabulary.
  await saveRandomModel(modelDir, { layers: 4, hidden: 32, dtype: 'bfloat16', seed: 5 });
  const sentence = 'We the people of the United States, in order to form a more perfect union, establish justice. ';
  writeFileSync(calibText, [sentence.repeat(4), sentence.repeat(5), sentence.repeat(6)].join('\n\n'));
  writeFileSync(evalText, sentence.repeat(4));
  writeFileSync(shortText, 'Too short.\n\nFor sixteen tokens.\n');
});
after(() => rmSync(work, { recursive: true, force: true }));

const blockLinears = (model: DecoderForCausalLM) =>
  [...model.namedModules()].filter(([name, m]) => m instanceof Linear && name.includes('.layers.')) as [
    string,
    Linear,
  ][];

describe('lithe prune', () => {
  it('wanda 50% writes a loadable checkpoint, report.json, report.html and the same object on stdout', async () => {
    const r = prune(
      'wanda',
      '--method',
      'wanda',
      '--sparsity',
      '0.5',
      '--eval',
      evalText,
      '--eval-seqlen',
      '16',
      '--json',
    );
    assert.equal(r.status, 0, r.stderr);
    const out = join(work, 'wanda');
    assert.deepEqual(readdirSync(out).sort(), [
      '.lithe-output.json',
      'config.json',
      'model.safetensors',
      'recipe.yaml',
      'report.html',
      'report.json',
      'tokenizer.json',
    ]);
    assert.equal(
      readJson(join(out, 'config.json')).torch_dtype ?? readJson(join(out, 'config.json')).dtype,
      'bfloat16',
    );

    // Every pruned row has ⌊in · s⌋ zeros.
    const model = await loadDecoder(out);
    const linears = blockLinears(model);
    assert.equal(linears.length, 4 * 7);
    for (const [name, linear] of linears) {
      const [rows, cols] = linear.weight.shape;
      const w = linear.weight.floatData();
      for (let row = 0; row < rows; row++) {
        let zeros = 0;
        for (let c = 0; c < cols; c++) if (w[row * cols + c] === 0) zeros++;
        assert.equal(zeros, Math.floor(cols * 0.5), `${name} row ${row}`);
      }
    }

    const report = readJson(join(out, 'report.json'));
    assert.deepEqual(JSON.parse(r.stdout), report);
    assert.equal(r.stdout.trim().split('\n').length, 1);
    assert.deepEqual(Object.keys(report).sort(), [
      'achievedSparsity',
      'allocation',
      'blocks',
      'calibration',
      'method',
      'modules',
      'nm',
      'pattern',
      'perplexity',
      'prunedSparsity',
      'run',
      'seconds',
      'skipped',
      'targetSparsity',
    ]);
    assert.equal(report.method, 'wanda');
    assert.equal(report.allocation, 'uniform');
    assert.equal(report.pattern, 'unstructured');
    assert.equal(report.nm, null);
    assert.equal(report.targetSparsity, 0.5);
    assert.equal(report.achievedSparsity, 0.5);
    assert.equal(report.blocks.length, 4);
    for (const block of report.blocks) {
      assert.deepEqual(Object.keys(block).sort(), ['index', 'outlierRatio', 'sparsity', 'targetSparsity']);
      assert.equal(block.outlierRatio, null);
      assert.equal(block.targetSparsity, 0.5);
      assert.equal(block.sparsity, 0.5);
    }
    assert.equal(report.modules.length, 28);
    assert.deepEqual(report.modules[0], { name: 'model.layers.0.self_attn.q_proj', shape: [32, 32], sparsity: 0.5 });
    assert.deepEqual(report.calibration, { source: calibText, format: 'plain', nsamples: 4, seqlen: 16, seed: 0 });
    assert.equal(typeof report.perplexity.before, 'number');
    assert.equal(typeof report.perplexity.after, 'number');
    assert.ok(report.perplexity.before > 1 && report.perplexity.after > 1);
    assert.notEqual(report.perplexity.before, report.perplexity.after);
    for (const key of ['calibration', 'pruning', 'eval']) {
      assert.ok(typeof report.seconds[key] === 'number' && report.seconds[key] >= 0, key);
    }
    assert.ok(report.seconds.eval > 0);

    const html = readFileSync(join(out, 'report.html'), 'utf8');
    assert.match(html, /<svg[\s>]/);
    assert.doesNotMatch(html, /(src|href)\s*=\s*["']?\s*(https?:)?\/\//i);
    assert.doesNotMatch(html, /<script/i);
    assert.match(html, /model\.layers\.3\.mlp\.down_proj/);
    assert.match(html, new RegExp(report.perplexity.after.toFixed(3)));
  });

  it('N:M prunes n of every m input columns', async () => {
    const r = prune('nm', '--method', 'magnitude', '--nm', '2:4', '--skip', 'model.layers.0.*', '--json');
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.pattern, 'N:M');
    assert.deepEqual(report.nm, [2, 4]);
    assert.equal(report.targetSparsity, 0.5);
    assert.equal(report.calibration, null);
    assert.equal(report.perplexity, null);
    assert.equal(report.modules.length, 3 * 7);
    assert.equal(report.skipped.length, 7);
    assert.equal(report.prunedSparsity, 0.5);
    assert.ok(report.achievedSparsity > 0.3 && report.achievedSparsity < 0.5, String(report.achievedSparsity));
    assert.deepEqual(
      report.blocks.map((b: { sparsity: number }) => b.sparsity),
      [0, 0.5, 0.5, 0.5],
    );
    assert.match(readFileSync(join(work, 'nm', 'report.html'), 'utf8'), /Left dense/);
    const model = await loadDecoder(join(work, 'nm'));
    for (const [name, linear] of blockLinears(model)) {
      const w = linear.weight.floatData();
      const zeros = (g: number) => [0, 1, 2, 3].filter((k) => w[g * 4 + k] === 0).length;
      for (let g = 0; g < w.length / 4; g++) assert.equal(zeros(g), name.includes('.layers.0.') ? 0 : 2, name);
    }
  });

  it('magnitude --group layer cuts each matrix as a whole: rows keep different counts, the matrix the target', async () => {
    const r = prune('layer', '--method', 'magnitude', '--sparsity', '0.5', '--group', 'layer', '--json');
    assert.equal(r.status, 0, r.stderr);
    const model = await loadDecoder(join(work, 'layer'));
    let unevenRows = false;
    for (const [name, linear] of blockLinears(model)) {
      const [rows, cols] = linear.weight.shape;
      const w = linear.weight.floatData();
      let zeros = 0;
      for (let r = 0; r < rows; r++) {
        const rowZeros = w.subarray(r * cols, (r + 1) * cols).filter((v) => v === 0).length;
        unevenRows ||= rowZeros !== Math.floor(cols * 0.5);
        zeros += rowZeros;
      }
      assert.equal(zeros, Math.floor(rows * cols * 0.5), name);
    }
    assert.ok(unevenRows, 'a per-layer cut leaves rows with different sparsities');
  });

  it('OWL gives blocks different sparsities that average the target', () => {
    const r = prune('owl', '--method', 'wanda', '--sparsity', '0.5', '--allocation', 'owl', '--owl-m', '3', '--json');
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.allocation, 'owl');
    const sparsities: number[] = report.blocks.map((b: { targetSparsity: number }) => b.targetSparsity);
    assert.ok(new Set(sparsities).size > 1, String(sparsities));
    const mean = sparsities.reduce((a, b) => a + b, 0) / sparsities.length;
    assert.ok(Math.abs(mean - 0.5) < 1e-9, String(mean));
    for (const block of report.blocks) assert.equal(typeof block.outlierRatio, 'number');
    assert.match(readFileSync(join(work, 'owl', 'report.html'), 'utf8'), /outlier ratio/);
  });

  it('task calibration: generated arithmetic laid out as chain-of-thought ICL', () => {
    const r = prune(
      'cot',
      '--method',
      'wanda',
      '--sparsity',
      '0.5',
      '--calib',
      'arithmetic',
      '--calib-format',
      'cot',
      '--icl-k',
      '2',
      '--json',
    );
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.deepEqual(report.calibration, { source: 'arithmetic', format: 'cot', nsamples: 4, seqlen: 16, seed: 0 });
    assert.equal(report.achievedSparsity, 0.5);
  });

  it('progress goes to stderr and a plain run prints a summary', () => {
    const r = prune('plain', '--method', 'sparsegpt', '--sparsity', '0.25');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /pruned 28 modules with sparsegpt/);
    assert.match(r.stderr, /prune \[#+\] 100% 4\/4 block/);
  });

  it('bad input is one stderr line, exit code 2 and no output directory', () => {
    const cases: string[][] = [
      ['--model', join(work, 'missing'), '--method', 'wanda', '--sparsity', '0.5'],
      ['--method', 'wanda', '--sparsity', '1'],
      ['--method', 'wanda', '--sparsity', '-0.1'],
      ['--method', 'wanda', '--sparsity', 'x'],
      ['--method', 'wanda', '--nm', '4:2'],
      ['--method', 'wanda', '--nm', 'x'],
      ['--method', 'wanda', '--nm', '0:4'],
      ['--method', 'wanda', '--sparsity', '0.5', '--calib', shortText],
      ['--method', 'wanda', '--sparsity', '0.5', '--calib', join(work, 'nope.txt')],
      ['--method', 'best', '--sparsity', '0.5'],
      ['--method', 'wanda', '--sparsity', '0.5', '--calib-format', 'icl'],
      ['--method', 'wanda', '--sparsity', '0.5', '--group', 'layer'],
      ['--method', 'magnitude', '--sparsity', '0.5', '--group', 'column'],
      ['--method', 'wanda', '--sparsity', '0.5', '--calib', 'arithmetic', '--calib-format', 'zero-shot'],
    ];
    for (const args of cases) {
      const r = run('prune', '--model', modelDir, '--out', join(work, 'bad-out'), ...fast, ...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /^lithe: /);
      assert.deepEqual(
        readdirSync(work).filter((f) => f.startsWith('bad-out')),
        [],
      );
    }
  });

  it('--eval measures as lithe eval does (same perplexity before pruning), and the report records how', () => {
    const evaluated = run('eval', '--model', modelDir, '--data', evalText, '--seqlen', '16', '--json');
    assert.equal(evaluated.status, 0, evaluated.stderr);
    const byEval = JSON.parse(evaluated.stdout);
    assert.deepEqual(
      { model: byEval.model, data: byEval.data, seqlen: byEval.seqlen, windows: byEval.windows, tokens: byEval.tokens },
      { model: modelDir, data: evalText, seqlen: 16, windows: byEval.windows, tokens: byEval.windows * 16 },
    );
    const r = prune(
      'protocol',
      '--method',
      'wanda',
      '--sparsity',
      '0.5',
      '--eval',
      evalText,
      '--eval-seqlen',
      '16',
      '--json',
    );
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.perplexity.before, byEval.perplexity);
    assert.deepEqual(report.perplexity.protocol, {
      data: evalText,
      seqlen: 16,
      windows: byEval.windows,
      tokens: byEval.tokens,
    });
    // "after" is the saved (bf16) checkpoint's perplexity, exactly what lithe eval gives on it.
    const after = JSON.parse(
      run('eval', '--model', join(work, 'protocol'), '--data', evalText, '--seqlen', '16', '--json').stdout,
    );
    assert.equal(report.perplexity.after, after.perplexity);
    assert.equal(report.run.lithe, readJson(fileURLToPath(new URL('../../../package.json', import.meta.url))).version);
    assert.match(report.run.command, /^lithe prune --model .* --method wanda --sparsity 0\.5/);
    assert.equal(report.run.model, modelDir);
    assert.ok(Math.abs(Date.parse(report.run.date) - Date.now()) < 10 * 60 * 1000);
    const html = readFileSync(join(work, 'protocol', 'report.html'), 'utf8');
    assert.match(html, /16 tokens/);
    assert.match(html, /lithe prune --model/);
  });

  it('--skip: achieved sparsity counts every block Linear as saved, skipped ones listed', async () => {
    const r = prune('skip', '--method', 'magnitude', '--sparsity', '0.5', '--skip', 'model.layers.0.*', '--json');
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    let zeros = 0;
    let total = 0;
    for (const [, linear] of blockLinears(await loadDecoder(join(work, 'skip')))) {
      const w = linear.weight.floatData();
      for (let i = 0; i < w.length; i++) if (w[i] === 0) zeros++;
      total += w.length;
    }
    assert.equal(report.achievedSparsity, zeros / total);
    assert.ok(report.achievedSparsity < 0.4, `${report.achievedSparsity}`);
    assert.equal(report.prunedSparsity, 0.5);
    assert.equal(report.skipped.length, 7);
    assert.equal(report.skipped[0].name, 'model.layers.0.self_attn.q_proj');
    assert.equal(report.blocks[0].sparsity, 0);
    assert.equal(report.blocks[0].targetSparsity, 0.5);
    assert.match(readFileSync(join(work, 'skip', 'report.html'), 'utf8'), /model\.layers\.0\.mlp\.down_proj/);
  });

  it('writes recipe.yaml, and --recipe with it repeats the run exactly', () => {
    const first = prune('recipe-a', '--method', 'sparsegpt', '--nm', '2:4', '--skip', 'model.layers.1.*', '--json');
    assert.equal(first.status, 0, first.stderr);
    const recipe = join(work, 'recipe-a', 'recipe.yaml');
    assert.match(readFileSync(recipe, 'utf8'), /SparseGPTModifier/);
    const again = run(
      'prune',
      '--model',
      modelDir,
      '--out',
      join(work, 'recipe-b'),
      ...fast,
      '--recipe',
      recipe,
      '--json',
    );
    assert.equal(again.status, 0, again.stderr);
    assert.deepEqual(
      readFileSync(join(work, 'recipe-b', 'model.safetensors')),
      readFileSync(join(work, 'recipe-a', 'model.safetensors')),
    );
    const conflict = run(
      'prune',
      '--model',
      modelDir,
      '--out',
      join(work, 'recipe-c'),
      '--recipe',
      recipe,
      '--method',
      'wanda',
    );
    assert.equal(conflict.status, 2);
    assert.match(conflict.stderr, /--method conflicts with --recipe/);
  });

  it('an llm-compressor recipe for an unsupported modifier is one line naming it', () => {
    const recipe = join(work, 'quant.yaml');
    writeFileSync(recipe, 'quant_stage:\n  quant_modifiers:\n    QuantizationModifier:\n      scheme: W4A16\n');
    const r = run('prune', '--model', modelDir, '--out', join(work, 'quant-out'), '--recipe', recipe);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /QuantizationModifier/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  });

  it('--owl-lambda too large for the target is one clear line', () => {
    const r = prune('owl-bad', '--method', 'wanda', '--sparsity', '0.5', '--allocation', 'owl', '--owl-lambda', '0.9');
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /block sparsities must stay below 1, so use λ < /);
  });

  it('OWL flags without --allocation owl are a usage error, not silently ignored', () => {
    const r = prune('owl-flags', '--method', 'wanda', '--sparsity', '0.5', '--owl-lambda', '0.1');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--owl-lambda applies to --allocation owl only/);
  });

  it('records its warnings (a length past the model context) in the report', () => {
    const r = run(
      'prune',
      '--model',
      modelDir,
      '--out',
      join(work, 'warned'),
      '--method',
      'magnitude',
      '--sparsity',
      '0.5',
      '--seqlen',
      '4096',
      '--json',
    );
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.match(report.run.warnings[0], /--seqlen 4096 is past the model's context \(max_position_embeddings 128\)/);
    assert.match(r.stderr, /warning: --seqlen 4096/);
  });
});
