import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadDecoder } from '../../src/io/checkpoint.js';
import type { Linear } from '../../src/nn/linear.js';
import { saveRandomModel } from '../helpers/random-model.js';
import { interruptWhen } from '../helpers/signal.js';

/** Indices where `values` is exactly zero. */
const zerosOf = (values: ArrayLike<number>) => Array.from(values, (v, i) => (v === 0 ? i : -1)).filter((i) => i >= 0);

const bin = fileURLToPath(new URL('../../../bin/lithe.js', import.meta.url));
const tokenizer = fileURLToPath(new URL('../../../test/golden/tokenizer/tokenizer.json', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'lithe-train-cli-'));
after(() => rmSync(work, { recursive: true, force: true }));

const text = join(work, 'train.txt');
writeFileSync(text, 'The union is strong and the people are free.\n\n'.repeat(40));
const small = [
  '--layers',
  '1',
  '--hidden',
  '32',
  '--heads',
  '2',
  '--kv-heads',
  '1',
  '--intermediate',
  '64',
  '--seqlen',
  '16',
  '--batch',
  '2',
];

/** A small run into `out` from the reference tokenizer on the test text. */
const smallRun = (out: string) => ['--out', out, '--tokenizer', tokenizer, '--data', text, ...small];
/** smallRun with a constant LR (so that the schedule does not depend on --steps). */
const constantLrRun = (out: string, optimizer: string[]) => [
  ...smallRun(out),
  ...optimizer,
  ...['--warmup', '0', '--min-lr-ratio', '1', '--lr', '1e-2'],
];
const cache = join(work, 'cache');
const run = (...args: string[]) =>
  spawnSync(process.execPath, [bin, 'train', ...args], {
    encoding: 'utf8',
    env: { ...process.env, LITHE_CACHE: cache },
  });

describe('lithe train', () => {
  it('trains from a preset with overrides and writes metrics, a checkpoint and the final model', async () => {
    const out = join(work, 'run');
    const r = run('--out', out, '--tokenizer', tokenizer, '--data', text, ...small, '--steps', '6', '--log-every', '2');
    assert.equal(r.status, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.equal(result.stopped, 'completed');
    assert.equal(result.step, 6);
    const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      metrics.map((m) => m.step),
      [2, 4, 6],
    );
    assert.ok(existsSync(join(out, 'checkpoint', 'trainer-state.json')));
    const model = await loadDecoder(join(out, 'model'));
    assert.equal(model.config.numLayers, 1);
    assert.ok(existsSync(join(out, 'model', 'tokenizer.json')));
    // --resume continues to a larger step count from the checkpoint.
    const more = run('--out', out, '--tokenizer', tokenizer, '--data', text, ...small, '--steps', '8', '--resume');
    assert.equal(more.status, 0, more.stderr);
    assert.equal(JSON.parse(more.stdout).step, 8);
  });
  it('bad flags exit 2 with one line', () => {
    for (const args of [
      ['--tokenizer', tokenizer],
      ['--out', join(work, 'x')],
      ['--out', join(work, 'x'), '--tokenizer', tokenizer, '--preset', 'huge'],
      ['--out', join(work, 'x'), '--tokenizer', tokenizer, '--steps', '0'],
      ['--out', join(work, 'x'), '--tokenizer', tokenizer, '--vocab', '100'],
    ]) {
      const r = run(...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  });

  it('a one-step run needs no warmup flag', () => {
    const r = run('--out', join(work, 'one-step'), '--tokenizer', tokenizer, '--data', text, ...small, '--steps', '1');
    assert.equal(r.status, 0, r.stderr);
  });

  it('--warmup 0 is accepted; architecture flags with --model are an error', async () => {
    const out = join(work, 'warm0');
    const r = run('--out', out, '--tokenizer', tokenizer, '--data', text, ...small, '--steps', '2', '--warmup', '0');
    assert.equal(r.status, 0, r.stderr);
    const clash = run('--out', join(work, 'ft'), '--model', join(out, 'model'), '--layers', '2', '--data', text);
    assert.equal(clash.status, 2);
    assert.match(clash.stderr, /--layers shapes a new model; it cannot be combined with --model/);
  });

  it('continuing a bf16 model saves bf16 by default, tokenising with progress, then from the token cache', async () => {
    const base = join(work, 'bf16-base');
    // A text no other test tokenises, so that the first run finds nothing cached.
    const fresh = join(work, 'fresh.txt');
    writeFileSync(fresh, 'Liberty and union, now and forever, one and inseparable.\n\n'.repeat(40));
    const first = run(
      '--out',
      base,
      '--tokenizer',
      tokenizer,
      '--data',
      fresh,
      ...small,
      '--steps',
      '2',
      '--save-dtype',
      'bf16',
    );
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stderr, /tokenize \[#+\] 100% 40\/40 doc/);
    const ft = join(work, 'bf16-ft');
    const r = run(
      '--out',
      ft,
      '--model',
      join(base, 'model'),
      '--data',
      fresh,
      '--seqlen',
      '16',
      '--batch',
      '2',
      '--steps',
      '2',
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(readFileSync(join(ft, 'model', 'config.json'), 'utf8')).dtype, 'bfloat16');
    // The same tokenizer and text again: ids come from the cache, with no tokenising pass.
    assert.doesNotMatch(r.stderr, /tokenize \[/);
  });

  it('fine-tuning a pruned model (--model PRUNED) keeps exactly its zeros and its sparsity record', async () => {
    const dense = join(work, 'dense');
    await saveRandomModel(dense, { layers: 2, hidden: 32, seed: 3 });
    const pruned = join(work, 'pruned');
    const prune = spawnSync(
      process.execPath,
      [bin, 'prune', '--model', dense, '--out', pruned, '--method', 'magnitude', '--sparsity', '0.5'],
      { encoding: 'utf8' },
    );
    assert.equal(prune.status, 0, prune.stderr);
    const out = join(work, 'pruned-ft');
    const args = ['--out', out, '--model', pruned, '--data', text, '--seqlen', '16', '--batch', '2'];
    const r = run(...args, '--steps', '6', '--checkpoint-every', '3', '--lr', '0.01');
    assert.equal(r.status, 0, r.stderr);
    const more = run(...args, '--steps', '9', '--checkpoint-every', '3', '--lr', '0.01', '--resume');
    assert.equal(more.status, 0, more.stderr);
    const before = await loadDecoder(pruned);
    const after = await loadDecoder(join(out, 'model'));
    const zeros = (model: typeof before) =>
      [...model.namedModules()]
        .filter(([name]) => name.includes('_proj'))
        .map(([name, m]) => [name, zerosOf((m as Linear).weight.floatData())] as const);
    assert.deepEqual(zeros(after), zeros(before));
    const changed = [...after.namedParameters()].filter(
      ([name, t]) => t.toArray().join() !== before.namedParameters().get(name)?.toArray().join(),
    );
    assert.ok(changed.length > 20, 'the weights trained');
    const record = (dir: string) => JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).sparsity;
    assert.deepEqual(record(join(out, 'model')), record(pruned));
    assert.equal(record(pruned).method, 'magnitude');
  });

  it('--resume with a different --batch or architecture names the difference', () => {
    const out = join(work, 'resume-check');
    const args = ['--out', out, '--tokenizer', tokenizer, '--data', text, ...small];
    assert.equal(run(...args, '--steps', '2').status, 0);
    const batch = run(...args.map((a, i) => (args[i - 1] === '--batch' ? '4' : a)), '--steps', '4', '--resume');
    assert.equal(batch.status, 2);
    assert.match(batch.stderr, /--resume with --batch 4, but the run in .* used 2/);
    const lr = run(...args, '--steps', '4', '--resume', '--lr', '0.1');
    assert.equal(lr.status, 2);
    assert.match(lr.stderr, /--resume with --lr 0\.1, but the run in .* used 0\.001/);
    const arch = run(...args.map((a, i) => (args[i - 1] === '--hidden' ? '64' : a)), '--steps', '4', '--resume');
    assert.equal(arch.status, 2);
    assert.match(arch.stderr, /different architecture: hidden_size is 64, the run in .* has 32/);
  });

  it('--optimizer galore: 3 steps + --resume to 6 equals 6 straight, bit for bit, across a refresh (every 2 steps)', async () => {
    const galore = ['--optimizer', 'galore', '--galore-rank', '4', '--galore-gap', '2', '--galore-scale', '0.5'];
    const args = (out: string) => constantLrRun(out, galore);
    const straight = join(work, 'galore-straight');
    assert.equal(run(...args(straight), '--steps', '6').status, 0);
    const resumed = join(work, 'galore-resumed');
    assert.equal(run(...args(resumed), '--steps', '3').status, 0);
    const state = JSON.parse(readFileSync(join(resumed, 'checkpoint', 'trainer-state.json'), 'utf8'));
    assert.equal(state.optimizer.kind, 'GaLoreAdamW');
    assert.equal(state.optimizer.groups[0].rank, 4);
    const r = run(...args(resumed), '--steps', '6', '--resume');
    assert.equal(r.status, 0, r.stderr);
    const weights = async (dir: string) =>
      [...(await loadDecoder(join(dir, 'model'))).namedParameters()].map(([name, t]) => [name, t.toArray()]);
    assert.deepEqual(await weights(resumed), await weights(straight));

    const rank = run(
      ...args(resumed).map((a, i, all) => (all[i - 1] === '--galore-rank' ? '8' : a)),
      '--steps',
      '8',
      '--resume',
    );
    assert.equal(rank.status, 2);
    assert.match(rank.stderr, /--resume with --galore-rank 8, but the run in .* used 4/);
    const adamw = run(
      '--out',
      join(work, 'galore-flag'),
      '--tokenizer',
      tokenizer,
      '--data',
      text,
      ...small,
      '--galore-rank',
      '4',
    );
    assert.equal(adamw.status, 2);
    assert.match(adamw.stderr, /--galore-rank needs --optimizer galore/);
    const none = run(
      '--out',
      join(work, 'galore-none'),
      '--tokenizer',
      tokenizer,
      '--data',
      text,
      ...small,
      ...galore,
      '--galore-targets',
      'nothing.*',
    );
    assert.equal(none.status, 2);
    assert.match(none.stderr, /no trainable 2-D parameter matches the GaLore targets 'nothing\.\*'/);
  });

  it('--optimizer qgalore: resumes bit for bit; model/ is an ordinary checkpoint; reports its SVDs', async () => {
    const qgalore = ['--optimizer', 'qgalore', '--galore-rank', '4', '--galore-gap', '1', '--qgalore-group-size', '16'];
    const lazy = ['--qgalore-window', '2', '--qgalore-cos-threshold', '0'];
    const args = (out: string) => constantLrRun(out, [...qgalore, ...lazy]);
    const straight = join(work, 'qgalore-straight');
    const whole = run(...args(straight), '--steps', '6');
    assert.equal(whole.status, 0, whole.stderr);
    // Gap 1, and a threshold of 0 doubles it from the second |cos| on: refreshes at steps 0, 1, 2 and 4 of 6.
    const projected = 7; // one layer's q, k, v, o, gate, up and down
    assert.equal(JSON.parse(whole.stdout).svds, 4 * projected);
    const resumed = join(work, 'qgalore-resumed');
    assert.equal(run(...args(resumed), '--steps', '3').status, 0);
    const state = JSON.parse(readFileSync(join(resumed, 'checkpoint', 'trainer-state.json'), 'utf8'));
    assert.equal(state.optimizer.kind, 'QGaLoreAdamW');
    assert.equal(state.masterWeights, true);
    const r = run(...args(resumed), '--steps', '6', '--resume');
    assert.equal(r.status, 0, r.stderr);
    const model = await loadDecoder(join(resumed, 'model'));
    assert.ok(model.namedParameters().has('model.layers.0.self_attn.q_proj.weight'));
    const weights = async (dir: string) =>
      [...(await loadDecoder(join(dir, 'model'))).namedParameters()].map(([name, t]) => [name, t.toArray()]);
    assert.deepEqual(await weights(resumed), await weights(straight));
    const flag = run('--out', join(work, 'qgalore-flag'), '--tokenizer', tokenizer, '--data', text, ...small, ...lazy);
    assert.equal(flag.status, 2);
    assert.match(flag.stderr, /--qgalore-cos-threshold needs --optimizer qgalore/);
    const idle = run(
      ...args(join(work, 'qgalore-idle')).map((a, i, all) => (all[i - 1] === '--qgalore-window' ? '0' : a)),
    );
    assert.equal(idle.status, 2);
    assert.match(idle.stderr, /--qgalore-cos-threshold has no effect with --qgalore-window 0/);
  });

  it('SIGTERM finishes the step and writes a checkpoint, as Ctrl-C does', async () => {
    const out = join(work, 'sigterm');
    const { code, stderr } = await interruptWhen(
      [bin, 'train', ...smallRun(out), '--steps', '100000', '--log-every', '1'],
      /step 3\//,
      'SIGTERM',
      { ...process.env, LITHE_CACHE: cache },
    );
    assert.equal(code, 130, stderr);
    assert.match(stderr, /interrupted; finishing this step and writing a checkpoint/);
    const state = JSON.parse(readFileSync(join(out, 'checkpoint', 'trainer-state.json'), 'utf8'));
    assert.ok(state.step >= 3, String(state.step));
    assert.ok(existsSync(join(out, 'run.json')));
    assert.ok(!readdirSync(out).some((f) => f.includes('.tmp-')), 'no staging left');
  });

  it('a run that fails before its first checkpoint leaves no --out behind', () => {
    const out = join(work, 'fails');
    const shortVal = join(work, 'short-val.txt');
    writeFileSync(shortVal, 'Too short.\n');
    // Validation at step 1 needs one window of --seqlen tokens; this text has fewer, so the run fails there.
    const r = run(
      '--out',
      out,
      '--tokenizer',
      tokenizer,
      '--data',
      text,
      ...small,
      '--steps',
      '2',
      '--val',
      shortVal,
      '--eval-every',
      '1',
    );
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /fewer than one window/);
    assert.equal(existsSync(out), false);
  });
});
