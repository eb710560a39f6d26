import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { saveRandomModel } from '../helpers/random-model.js';
import { interruptWhen } from '../helpers/signal.js';

// Every command that writes, against every --out case of "outputs never destroy data".
const bin = fileURLToPath(new URL('../../../bin/lithe.js', import.meta.url));
const tokenizerJson = fileURLToPath(new URL('../../../test/golden/tokenizer/tokenizer.json', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'lithe-outputs-'));
const parent = join(work, 'parent');
const modelDir = join(parent, 'model');
const text = join(work, 'text.txt');
let sleeper: ChildProcess | undefined;

const run = (args: string[], cwd = work) =>
  spawnSync(process.execPath, [bin, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, LITHE_CACHE: join(work, 'cache') },
  });

/** A file tree as path → contents, to prove a directory is untouched. */
function snapshot(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) {
      const path = join(entry.parentPath, entry.name);
      files.set(path, readFileSync(path).toString('base64'));
    }
  }
  return files;
}

const trainArgs = ['--layers', '1', '--hidden', '16', '--heads', '2', '--kv-heads', '1', '--intermediate', '32'];
/** Each writing command, with fast settings, as a function of its --out. */
const COMMANDS: Record<string, (out: string) => string[]> = {
  prune: (out) => ['prune', '--model', modelDir, '--method', 'magnitude', '--sparsity', '0.5', '--out', out],
  train: (out) => [
    'train',
    '--tokenizer',
    tokenizerJson,
    ...trainArgs,
    '--seqlen',
    '8',
    '--batch',
    '2',
    '--steps',
    '2',
    '--data',
    text,
    '--out',
    out,
  ],
  'tokenizer train': (out) => ['tokenizer', 'train', '--corpus', text, '--vocab', '300', '--out', out],
  demo: (out) => [
    'demo',
    '--model',
    modelDir,
    '--calib',
    text,
    '--eval',
    text,
    '--nsamples',
    '2',
    '--seqlen',
    '8',
    '--eval-windows',
    '1',
    '--out',
    out,
  ],
};

before(async () => {
  await saveRandomModel(modelDir, { layers: 1, hidden: 16, dtype: 'bfloat16' });
  writeFileSync(join(parent, 'notes.txt'), 'my notes\n');
  writeFileSync(text, 'The union is strong and the people are free. '.repeat(30).concat('\n\n').repeat(6));
  sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
});
after(() => {
  sleeper?.kill();
  rmSync(work, { recursive: true, force: true });
});

const expectRefused = (r: ReturnType<typeof run>, pattern: RegExp) => {
  assert.equal(r.status, 2, r.stderr);
  const lines = r.stderr
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('lithe: ') && !l.includes('warning'));
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at /);
};

describe('no command deletes or replaces what it did not write', () => {
  for (const [name, args] of Object.entries(COMMANDS)) {
    describe(`lithe ${name}`, () => {
      it('refuses an --out that is an existing file, leaving it as it was', () => {
        const file = join(work, `${name}-file.txt`);
        writeFileSync(file, 'precious\n');
        expectRefused(run(args(file)), /not a directory|is a file|exists/);
        assert.equal(readFileSync(file, 'utf8'), 'precious\n');
      });

      it('refuses the parent of the input model (and the model directory itself), deleting nothing', () => {
        const before = snapshot(parent);
        expectRefused(run(args(parent)), /model|not empty|not written by lithe/);
        assert.deepEqual(snapshot(parent), before);
        expectRefused(run(args(modelDir)), /model|not empty|not written by lithe|tokenizer/);
        assert.deepEqual(snapshot(parent), before);
      });

      it('refuses a symlink to the model directory', () => {
        const link = join(work, `${name.replace(' ', '-')}-link`);
        if (!existsSync(link)) symlinkSync(modelDir, link);
        const before = snapshot(parent);
        expectRefused(run(args(link)), /model|not empty|not written by lithe|tokenizer/);
        assert.deepEqual(snapshot(parent), before);
      });

      it('refuses an unrelated non-empty directory without --overwrite; with it, keeps the user file', () => {
        const dir = join(work, `${name.replace(' ', '-')}-busy`);
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, 'keep.txt'), 'mine\n');
        expectRefused(run(args(dir)), /not empty.*--overwrite/);
        assert.deepEqual(readdirSync(dir), ['keep.txt']);
        if (name === 'demo') return; // a full demo run is covered in demo.test.ts
        const r = run([...args(dir), '--overwrite']);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(readFileSync(join(dir, 'keep.txt'), 'utf8'), 'mine\n');
      });

      it('refuses an --out that cannot be written, with one line naming the path', () => {
        const blocker = join(work, `${name.replace(' ', '-')}-blocker`);
        writeFileSync(blocker, 'a file, so nothing can be created under it\n');
        expectRefused(run(args(join(blocker, 'out'))), new RegExp(`${blocker.replace(/[/.]/g, '\\$&')}`));
      });

      it('refuses a directory another live lithe process holds the lock of', () => {
        const dir = join(work, `${name.replace(' ', '-')}-locked`);
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, '.lithe.lock'), `${sleeper?.pid}\n`);
        expectRefused(run(args(dir)), /another lithe process/);
      });
    });
  }

  it('prune writes into a previous lithe output again, and into `--out .`', () => {
    const out = join(work, 'again');
    assert.equal(run(COMMANDS.prune(out)).status, 0);
    const r = run(COMMANDS.prune(out));
    assert.equal(r.status, 0, r.stderr);
    const cwd = join(work, 'here');
    mkdirSync(cwd);
    const dot = run(COMMANDS.prune('.'), cwd);
    assert.equal(dot.status, 0, dot.stderr);
    assert.ok(existsSync(join(cwd, 'model.safetensors')));
  });

  it("tokenizer train never replaces a model directory's tokenizer.json, even with --overwrite", () => {
    const before = snapshot(parent);
    expectRefused(run([...COMMANDS['tokenizer train'](modelDir), '--overwrite']), /tokenizer\.json/);
    assert.deepEqual(snapshot(parent), before);
  });

  it('train into a directory holding a run needs --resume or --overwrite', () => {
    const out = join(work, 'run');
    assert.equal(run(COMMANDS.train(out)).status, 0);
    expectRefused(run(COMMANDS.train(out)), /--resume.*--overwrite/);
    assert.equal(run([...COMMANDS.train(out), '--overwrite']).status, 0);
  });

  it('data export writes a new file, and refuses an existing one (a model file, a symlink, a device)', () => {
    const file = join(work, 'export.txt');
    assert.equal(run(['data', 'export', '--corpus', 'sotu:val', '--out', file]).status, 0);
    assert.ok(readFileSync(file, 'utf8').length > 1000);
    const weights = join(modelDir, 'model.safetensors');
    const before = readFileSync(weights);
    expectRefused(run(['data', 'export', '--corpus', 'sotu:val', '--out', weights]), /already exists/);
    assert.deepEqual(readFileSync(weights), before);
    const link = join(work, 'export-link.txt');
    symlinkSync(file, link);
    expectRefused(run(['data', 'export', '--corpus', 'sotu:val', '--out', link]), /already exists/);
    expectRefused(run(['data', 'export', '--corpus', 'sotu:val', '--out', '/dev/null']), /already exists/);
    assert.ok(!readdirSync(work).some((f) => f.includes('.tmp-')), 'no staging files left');
  });

  it('train refuses --out holding its --model (or its tokenizer), even with --overwrite', () => {
    const before = snapshot(parent);
    const args = ['train', '--model', modelDir, '--data', text, '--seqlen', '8', '--batch', '2', '--steps', '1'];
    expectRefused(run([...args, '--out', parent, '--overwrite']), /contains the input/);
    expectRefused(run([...args, '--out', modelDir, '--overwrite']), /is the input/);
    assert.deepEqual(snapshot(parent), before);
  });

  it('finds a clash in --out before any work (a foreign model.safetensors with --overwrite)', () => {
    const dir = join(work, 'clash');
    mkdirSync(dir);
    writeFileSync(join(dir, 'model.safetensors'), "not lithe's");
    const r = run([...COMMANDS.prune(dir), '--overwrite']);
    expectRefused(r, /refusing to replace .*model\.safetensors: lithe did not write it/);
    assert.doesNotMatch(r.stderr, /load \[|prune \[/);
    assert.equal(readFileSync(join(dir, 'model.safetensors'), 'utf8'), "not lithe's");
  });

  it('SIGTERM during prune exits 143 and leaves no lock, and no directory when nothing was written', async () => {
    const big = join(work, 'big-model');
    await saveRandomModel(big, { layers: 6, hidden: 128, dtype: 'float32' });
    const out = join(work, 'interrupted');
    const args = ['prune', '--model', big, '--out', out, '--method', 'sparsegpt', '--sparsity', '0.5'];
    const { code, stderr } = await interruptWhen(
      [bin, ...args, '--calib', text, '--nsamples', '64', '--seqlen', '64'],
      /prune \[/,
      'SIGTERM',
    );
    assert.equal(code, 143, stderr);
    assert.match(stderr, /interrupted \(SIGTERM\)/);
    assert.equal(existsSync(out), false, 'nothing was written, so the directory it created is gone');
  });
});
