import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { writeFileAtomic } from '../../src/io/atomic.js';
import { loadDecoder, saveDecoder } from '../../src/io/checkpoint.js';
import { OutputError, outputErrorFrom } from '../../src/io/errors.js';
import { LOCK_FILE, MANIFEST_FILE, openOutputDir, withOutputDir } from '../../src/io/output-dir.js';
import { parseDecoderConfig } from '../../src/models/llama/config.js';
import { DecoderForCausalLM } from '../../src/models/llama/model.js';

const work = mkdtempSync(join(tmpdir(), 'lithe-out-'));
after(() => rmSync(work, { recursive: true, force: true }));
let dirs = 0;
const freshPath = () => join(work, `case-${dirs++}`);
const freshDir = () => {
  const dir = freshPath();
  mkdirSync(dir);
  return dir;
};

/** A pid that no process has any more: a child that has already exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

/** Run `body` while a child process with a live pid waits. */
async function withLivePid(body: (pid: number) => void | Promise<void>): Promise<void> {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 5000)'], { stdio: 'ignore' });
  try {
    await body(child.pid!);
  } finally {
    child.kill();
  }
}

/** A finished lithe output holding files a and b. */
function litheOutput(): string {
  const dir = freshPath();
  const out = openOutputDir(dir);
  out.writeFile('a.txt', 'a1');
  out.writeFile('b.txt', 'b1');
  out.commit();
  out.close();
  return dir;
}

/** A fake model directory and its files' contents, to check that it survives. */
function modelDir(parent: string): { dir: string; files: Record<string, string> } {
  const dir = join(parent, 'model');
  mkdirSync(dir, { recursive: true });
  const files = { 'config.json': '{"model": true}\n', 'model.safetensors': 'weights' };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return { dir, files };
}

function assertIntact(dir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) assert.equal(readFileSync(join(dir, name), 'utf8'), text, name);
}

const refused = (pattern: RegExp) => (err: unknown) => err instanceof OutputError && pattern.test(err.message);

const tinyConfig = parseDecoderConfig({
  architectures: ['LlamaForCausalLM'],
  vocab_size: 32,
  hidden_size: 8,
  intermediate_size: 16,
  num_hidden_layers: 1,
  num_attention_heads: 2,
  max_position_embeddings: 32,
  dtype: 'float32',
});

describe('openOutputDir', () => {
  it('creates a new path, writes files atomically, and leaves a manifest but no lock or temp file', () => {
    const dir = join(freshPath(), 'nested', 'out');
    const out = openOutputDir(dir);
    assert.ok(existsSync(join(dir, LOCK_FILE)));
    out.writeFile('a.txt', 'text');
    out.writeFileWith('b.bin', (fd) => writeFileSync(fd, new Uint8Array([1, 2])));
    out.commit();
    out.close();
    out.close();
    assert.deepEqual(readdirSync(dir).sort(), [MANIFEST_FILE, 'a.txt', 'b.bin']);
    const manifest = JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8'));
    assert.deepEqual(manifest, { format: 'lithe-output', version: 1, kind: 'checkpoint', files: ['a.txt', 'b.bin'] });
  });

  it('accepts an existing empty directory', () => {
    const dir = freshDir();
    const out = openOutputDir(dir);
    out.writeFile('a.txt', 'x');
    out.commit();
    out.close();
    assert.equal(readFileSync(join(dir, 'a.txt'), 'utf8'), 'x');
  });

  it('replaces a previous lithe output: a stale listed file goes, an unlisted user file stays', () => {
    const dir = litheOutput();
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    const out = openOutputDir(dir);
    out.writeFile('a.txt', 'a2');
    out.commit();
    out.close();
    assert.deepEqual(readdirSync(dir).sort(), [MANIFEST_FILE, 'a.txt', 'notes.txt']);
    assert.equal(readFileSync(join(dir, 'a.txt'), 'utf8'), 'a2');
    assert.equal(readFileSync(join(dir, 'notes.txt'), 'utf8'), 'mine');
  });

  it('refuses a non-empty directory lithe did not write, and with overwrite writes into it keeping its files', async () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'thesis.tex'), 'years of work');
    assert.throws(() => openOutputDir(dir), refused(/is not empty and was not written by lithe; pass --overwrite/));
    assert.deepEqual(readdirSync(dir), ['thesis.tex']);
    const out = openOutputDir(dir, { overwrite: true });
    out.writeFile('a.txt', 'x');
    out.commit();
    out.close();
    assert.equal(readFileSync(join(dir, 'thesis.tex'), 'utf8'), 'years of work');
    // Now a lithe output: a second session may replace a.txt but still never the user's file.
    await withOutputDir(dir, {}, (again) => again.writeFile('b.txt', 'y'));
    assert.deepEqual(readdirSync(dir).sort(), [MANIFEST_FILE, 'b.txt', 'thesis.tex']);
  });

  it('never replaces a file lithe did not write, even with overwrite', () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'tokenizer.json'), "the model's own");
    const out = openOutputDir(dir, { overwrite: true });
    assert.throws(
      () => out.writeFile('tokenizer.json', 'another'),
      refused(/refusing to replace .*lithe did not write it/),
    );
    out.close({ failed: true });
    assert.equal(readFileSync(join(dir, 'tokenizer.json'), 'utf8'), "the model's own");
  });

  it("counts only an earlier output of the same kind as its own: another kind's files are neither replaced nor removed", async () => {
    const dir = freshPath();
    await withOutputDir(dir, { kind: 'checkpoint' }, (out) => out.writeFile('tokenizer.json', 'saved with the model'));
    assert.throws(
      () => openOutputDir(dir, { kind: 'tokenizer' }),
      refused(/holds a lithe checkpoint, not a tokenizer; pass --overwrite/),
    );
    await withOutputDir(dir, { kind: 'tokenizer', overwrite: true }, (out) => {
      assert.throws(() => out.writeFile('tokenizer.json', 'trained'), refused(/lithe did not write it/));
      out.writeFile('vocab.txt', 'v');
    });
    assert.equal(readFileSync(join(dir, 'tokenizer.json'), 'utf8'), 'saved with the model');
    assert.deepEqual(readdirSync(dir).sort(), [MANIFEST_FILE, 'tokenizer.json', 'vocab.txt']);
  });

  it('refuses a path that is a file, leaving the file unchanged', () => {
    const file = join(freshDir(), 'out');
    writeFileSync(file, 'data');
    assert.throws(() => openOutputDir(file, { what: '--out' }), refused(/--out .* is a regular file, not a directory/));
    assert.equal(readFileSync(file, 'utf8'), 'data');
  });

  it("refuses the input model's directory, its parent and a symlink to it; the model stays intact", () => {
    const parent = freshDir();
    const { dir, files } = modelDir(parent);
    assert.throws(() => openOutputDir(dir, { inputs: [dir] }), refused(/is the input/));
    assert.throws(() => openOutputDir(parent, { inputs: [dir], overwrite: true }), refused(/contains the input/));
    const link = join(freshDir(), 'link');
    symlinkSync(dir, link);
    assert.throws(() => openOutputDir(link, { inputs: [dir] }), refused(/is the input/));
    assertIntact(dir, files);
    assert.deepEqual(readdirSync(dir).sort(), Object.keys(files).sort());
  });

  it('resolves relative paths: "." is usable, ".." of the input is refused', async () => {
    const cwd = process.cwd();
    const parent = freshDir();
    const { dir, files } = modelDir(parent);
    const empty = freshDir();
    try {
      process.chdir(empty);
      await withOutputDir('.', {}, (out) => out.writeFile('a.txt', 'x'));
      assert.equal(readFileSync(join(empty, 'a.txt'), 'utf8'), 'x');
      process.chdir(dir);
      assert.throws(() => openOutputDir('..', { inputs: ['.'], overwrite: true }), refused(/contains the input/));
    } finally {
      process.chdir(cwd);
    }
    assertIntact(dir, files);
  });

  it('reports an unwritable path as one line with the error code in words', () => {
    const file = join(freshDir(), 'plain');
    writeFileSync(file, '');
    assert.throws(() => openOutputDir(join(file, 'out')), refused(/^cannot create .*plain\/out \(.*ENOTDIR\)$/));
  });

  it('reports a read-only directory as permission denied', { skip: process.getuid?.() === 0 }, () => {
    const dir = freshDir();
    chmodSync(dir, 0o555);
    try {
      assert.throws(() => openOutputDir(dir), refused(/^cannot write .* \(permission denied, EACCES\)$/));
    } finally {
      chmodSync(dir, 0o755);
    }
  });

  it('refuses a directory locked by a live process and takes over a dead one', async () => {
    const dir = freshDir();
    await withLivePid((pid) => {
      writeFileSync(join(dir, LOCK_FILE), `${pid}\n`);
      assert.throws(() => openOutputDir(dir), refused(new RegExp(`another lithe process \\(pid ${pid}\\) is writing`)));
    });
    writeFileSync(join(dir, LOCK_FILE), `${deadPid()}\n`);
    const out = openOutputDir(dir);
    assert.equal(readFileSync(join(dir, LOCK_FILE), 'utf8'), `${process.pid}\n`);
    assert.throws(() => openOutputDir(dir), refused(/another lithe process/));
    out.close();
    assert.equal(existsSync(join(dir, LOCK_FILE)), false);
  });

  it("removes a dead process's staging entries and nothing else", async () => {
    const dir = litheOutput();
    const dead = deadPid();
    mkdirSync(join(dir, `checkpoint.tmp-${dead}-0123456789ab`));
    writeFileSync(join(dir, `model.safetensors.tmp-${dead}-0123456789ab`), 'partial');
    mkdirSync(join(dir, `checkpoint.old-${dead}-ba9876543210`));
    writeFileSync(join(dir, 'looks.tmp-like-but-is-not'), 'mine');
    await withLivePid((pid) => {
      const live = `a.txt.tmp-${pid}-0123456789ab`;
      writeFileSync(join(dir, live), 'in progress');
      openOutputDir(dir).close();
      assert.deepEqual(readdirSync(dir).sort(), [MANIFEST_FILE, 'a.txt', live, 'b.txt', 'looks.tmp-like-but-is-not']);
    });
  });

  it('a failed run removes the directory it created when nothing was written, and keeps existing ones', async () => {
    const parent = freshDir();
    const created = join(parent, 'new', 'out');
    await assert.rejects(
      withOutputDir(created, {}, () => {
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.deepEqual(readdirSync(parent), []);
    const existing = freshDir();
    openOutputDir(existing).close({ failed: true });
    assert.deepEqual(readdirSync(existing), []);
  });

  it('writeDir swaps in a sub-directory, replaces its own, and refuses one lithe did not write', async () => {
    const dir = freshDir();
    mkdirSync(join(dir, 'theirs'));
    writeFileSync(join(dir, 'theirs', 'x'), 'x');
    const out = openOutputDir(dir, { overwrite: true });
    await out.writeDir('checkpoint', (tmp) => writeFileSync(join(tmp, 'one'), '1'));
    await out.writeDir('checkpoint', (tmp) => writeFileSync(join(tmp, 'two'), '2'));
    assert.deepEqual(readdirSync(join(dir, 'checkpoint')), ['two']);
    await assert.rejects(
      out.writeDir('theirs', () => {}),
      refused(/refusing to replace .*theirs: lithe did not write it/),
    );
    out.close();
    assert.equal(readFileSync(join(dir, 'theirs', 'x'), 'utf8'), 'x');
  });
});

describe('writeFileAtomic', () => {
  it('refuses to replace a symlink, leaving the link and its target alone', () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'target'), 'kept');
    symlinkSync(join(dir, 'target'), join(dir, 'link'));
    assert.throws(() => writeFileAtomic(join(dir, 'link'), 'x'), refused(/refusing to replace .*link: not a regular/));
    assert.ok(lstatSync(join(dir, 'link')).isSymbolicLink());
    assert.equal(readlinkSync(join(dir, 'link')), join(dir, 'target'));
    assert.equal(readFileSync(join(dir, 'target'), 'utf8'), 'kept');
    assert.deepEqual(readdirSync(dir).sort(), ['link', 'target']);
  });

  it('refuses a FIFO', (t) => {
    const fifo = join(freshDir(), 'pipe');
    if (spawnSync('mkfifo', [fifo]).status !== 0) return t.skip('mkfifo is unavailable');
    assert.throws(() => writeFileAtomic(fifo, 'x'), refused(/not a regular file \(a FIFO\)/));
    assert.ok(lstatSync(fifo).isFIFO());
  });

  it('refuses a character device such as /dev/null', (t) => {
    if (!existsSync('/dev/null')) return t.skip('no /dev/null');
    assert.throws(
      () => writeFileAtomic('/dev/null', 'x'),
      refused(/refusing to replace \/dev\/null: not a regular file \(a character device\)/),
    );
    assert.ok(lstatSync('/dev/null').isCharacterDevice());
  });

  it('reports a missing parent directory as one line with the code', () => {
    const path = join(freshPath(), 'missing', 'file.txt');
    assert.throws(() => writeFileAtomic(path, 'x'), refused(/^cannot write .*file\.txt \(no such file .*, ENOENT\)$/));
  });
});

describe('outputErrorFrom', () => {
  it('words ordinary I/O codes and passes other errors through', () => {
    const eacces = Object.assign(new Error('EACCES: raw'), { code: 'EACCES', errno: -13 });
    const err = outputErrorFrom(eacces, '/x/out');
    assert.ok(err instanceof OutputError);
    assert.equal(err.message, 'cannot write /x/out (permission denied, EACCES)');
    assert.equal(err.code, 'EACCES');
    const bug = new TypeError('a bug');
    assert.equal(outputErrorFrom(bug, '/x/out'), bug);
  });
});

describe('saveDecoder into existing directories', () => {
  const model = new DecoderForCausalLM(tinyConfig, { seed: 0 });

  it('keeps a user file in a previous output, and only writes into a foreign directory with overwrite', async () => {
    const dir = freshPath();
    await saveDecoder(model, dir);
    writeFileSync(join(dir, 'README.md'), 'my notes');
    await saveDecoder(model, dir);
    assert.equal(readFileSync(join(dir, 'README.md'), 'utf8'), 'my notes');

    const foreign = freshDir();
    writeFileSync(join(foreign, 'data.csv'), '1,2,3');
    await assert.rejects(saveDecoder(model, foreign), refused(/not written by lithe/));
    assert.deepEqual(readdirSync(foreign), ['data.csv']);
    await saveDecoder(model, foreign, { overwrite: true });
    assert.equal(readFileSync(join(foreign, 'data.csv'), 'utf8'), '1,2,3');
    assert.deepEqual((await loadDecoder(foreign)).config, (await loadDecoder(dir)).config);
  });

  it('refuses an output that contains an input, and writes into an already-open OutputDir', async () => {
    const parent = freshDir();
    const { dir, files } = modelDir(parent);
    await assert.rejects(saveDecoder(model, parent, { inputs: [dir], overwrite: true }), refused(/contains the input/));
    assertIntact(dir, files);

    const outPath = freshPath();
    await withOutputDir(outPath, {}, (out) =>
      saveDecoder(model, out, { extraFiles: (o) => o.writeFile('report.json', '{}\n') }),
    );
    const listed = JSON.parse(readFileSync(join(outPath, MANIFEST_FILE), 'utf8')).files;
    assert.deepEqual(listed.sort(), ['config.json', 'model.safetensors', 'report.json']);
  });
});
