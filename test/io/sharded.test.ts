import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { tensor } from '../../src/engine/create.js';
import { LitheError } from '../../src/engine/errors.js';
import type { Progress } from '../../src/engine/progress.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { writeDirAtomic, writeFileAtomic } from '../../src/io/atomic.js';
import { CheckpointError } from '../../src/io/errors.js';
import { saveSafetensors } from '../../src/io/safetensors.js';
import {
  openCheckpoint,
  openShardedSafetensors,
  parseByteSize,
  saveShardedSafetensors,
  shardFileName,
} from '../../src/io/sharded.js';

const root = mkdtempSync(join(tmpdir(), 'lithe-sharded-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirCount = 0;
const freshDir = (): string => join(root, `d${dirCount++}`);

/** Four 40-byte f32 tensors and one 8-byte i32 tensor, in insertion order. */
function sampleTensors(): Map<string, Tensor> {
  const tensors = new Map<string, Tensor>();
  for (const name of ['layers.0.w', 'layers.1.w', 'layers.2.w', 'layers.3.w']) {
    tensors.set(
      name,
      tensor(
        Array.from({ length: 10 }, (_, i) => i + name.length * 0.5),
        [2, 5],
      ),
    );
  }
  tensors.set('position_ids', tensor([0, 1], [2], { dtype: 'i32' }));
  return tensors;
}

function assertSameTensors(reader: { keys(): string[]; read(name: string): Tensor }, expected: Map<string, Tensor>) {
  assert.deepEqual(reader.keys().sort(), [...expected.keys()].sort());
  for (const [name, want] of expected) {
    const got = reader.read(name);
    assert.equal(got.dtype, want.dtype, name);
    assert.deepEqual(got.shape, want.shape, name);
    assert.deepEqual(got.toArray(), want.toArray(), name);
  }
}

describe('parseByteSize', () => {
  it('parses numbers and Hugging Face size strings', () => {
    assert.equal(parseByteSize(1234), 1234);
    assert.equal(parseByteSize('5GB'), 5e9);
    assert.equal(parseByteSize('5GiB'), 5 * 2 ** 30);
    assert.equal(parseByteSize('1.5 mb'), 1.5e6);
    assert.equal(parseByteSize('200KiB'), 200 * 1024);
    assert.equal(parseByteSize('100'), 100);
    assert.equal(parseByteSize('64B'), 64);
    for (const bad of ['', 'GB', '5 parsecs', '-1GB', 0, -3, 1.5, '0']) {
      assert.throws(() => parseByteSize(bad), LitheError, String(bad));
    }
  });
  it('names shards as Hugging Face does', () => {
    assert.equal(shardFileName('model', 1, 2), 'model-00001-of-00002.safetensors');
    assert.equal(shardFileName('adapter_model', 12, 123456), 'adapter_model-000012-of-123456.safetensors');
  });
});

describe('sharded safetensors', () => {
  it('splits at maxShardSize with HF names and an index, and reads back across shards', () => {
    const dir = freshDir();
    const tensors = sampleTensors();
    const saved = saveShardedSafetensors(dir, tensors, { maxShardSize: 100, i32AsI64: true });
    // 40 + 40 fit in 100; the third tensor would overflow, and so on; the 16-byte I64 joins the last shard.
    assert.deepEqual(readdirSync(dir).sort(), [
      'model-00001-of-00002.safetensors',
      'model-00002-of-00002.safetensors',
      'model.safetensors.index.json',
    ]);
    assert.equal(saved.totalSize, 4 * 40 + 16);
    assert.equal(saved.indexFile, join(dir, 'model.safetensors.index.json'));
    const index = JSON.parse(readFileSync(saved.indexFile!, 'utf8'));
    assert.deepEqual(index, {
      metadata: { total_size: 176 },
      weight_map: {
        'layers.0.w': 'model-00001-of-00002.safetensors',
        'layers.1.w': 'model-00001-of-00002.safetensors',
        'layers.2.w': 'model-00002-of-00002.safetensors',
        'layers.3.w': 'model-00002-of-00002.safetensors',
        position_ids: 'model-00002-of-00002.safetensors',
      },
    });
    assert.ok(readFileSync(saved.indexFile!, 'utf8').startsWith('{\n  "metadata": {\n    "total_size": 176\n  },'));

    const reader = openShardedSafetensors(saved.indexFile!);
    try {
      assertSameTensors(reader, tensors);
      assert.equal(reader.info('position_ids').dtype, 'I64');
      assert.deepEqual(reader.info('layers.3.w').shape, [2, 5]);
      assert.throws(() => reader.read('nope'), CheckpointError);
    } finally {
      reader.close();
    }
    const viaDir = openCheckpoint(dir);
    assertSameTensors(viaDir, tensors);
    viaDir.close();
  });

  it('puts a tensor larger than maxShardSize in a shard of its own', () => {
    const dir = freshDir();
    const tensors = new Map([
      ['small', tensor([1])],
      ['huge', tensor(Array.from({ length: 100 }, (_, i) => i))],
      ['tail', tensor([2])],
    ]);
    const saved = saveShardedSafetensors(dir, tensors, { maxShardSize: '64B', name: 'adapter_model' });
    assert.equal(saved.files.length, 3);
    assert.deepEqual(JSON.parse(readFileSync(saved.indexFile!, 'utf8')).weight_map, {
      huge: 'adapter_model-00002-of-00003.safetensors',
      small: 'adapter_model-00001-of-00003.safetensors',
      tail: 'adapter_model-00003-of-00003.safetensors',
    });
    const reader = openCheckpoint(dir, { name: 'adapter_model' });
    assertSameTensors(reader, tensors);
    reader.close();
  });

  it('writes a single model.safetensors when everything fits, replacing an earlier sharded save', () => {
    const dir = freshDir();
    const tensors = sampleTensors();
    saveShardedSafetensors(dir, tensors, { maxShardSize: 100 });
    writeFileSync(join(dir, 'config.json'), '{}');
    const saved = saveShardedSafetensors(dir, tensors);
    assert.deepEqual(readdirSync(dir).sort(), ['config.json', 'model.safetensors']);
    assert.equal(saved.indexFile, undefined);
    assert.deepEqual(saved.files, [join(dir, 'model.safetensors')]);
    const reader = openCheckpoint(dir);
    assertSameTensors(reader, tensors);
    reader.close();
    // And back to sharded: the single file goes, so no loader can pick up a stale copy.
    saveShardedSafetensors(dir, tensors, { maxShardSize: 100 });
    assert.equal(existsSync(join(dir, 'model.safetensors')), false);
    assert.equal(readdirSync(dir).length, 4);
  });

  it('reports progress across all shards', () => {
    const events: Progress[] = [];
    saveShardedSafetensors(freshDir(), sampleTensors(), { maxShardSize: 100, onProgress: (e) => events.push(e) });
    assert.deepEqual(
      events.map((e) => e.done),
      [40, 80, 120, 160, 168],
    );
    assert.ok(events.every((e) => e.phase === 'save' && e.total === 168 && e.unit === 'bytes'));
  });
});

describe('sharded safetensors validation', () => {
  /** A sharded checkpoint on disk whose index can then be rewritten to break it. */
  function shardedDir(): { dir: string; indexPath: string } {
    const dir = freshDir();
    const saved = saveShardedSafetensors(dir, sampleTensors(), { maxShardSize: 100 });
    return { dir, indexPath: saved.indexFile! };
  }
  function expectIndexError(indexPath: string, pattern: RegExp, tensorName?: string): void {
    assert.throws(
      () => openShardedSafetensors(indexPath),
      (err: unknown) =>
        err instanceof CheckpointError &&
        err.file === indexPath &&
        err.message.includes(indexPath) &&
        err.tensor === tensorName &&
        (tensorName === undefined || err.message.includes(`'${tensorName}'`)) &&
        pattern.test(err.message),
    );
  }

  it('an index naming a missing file', () => {
    const { dir, indexPath } = shardedDir();
    rmSync(join(dir, 'model-00002-of-00002.safetensors'));
    expectIndexError(indexPath, /names a missing file 'model-00002-of-00002.safetensors'/, 'layers.2.w');
  });

  it('an index naming a tensor its shard does not hold', () => {
    const { indexPath } = shardedDir();
    const index = JSON.parse(readFileSync(indexPath, 'utf8'));
    index.weight_map['layers.9.w'] = 'model-00001-of-00002.safetensors';
    writeFileSync(indexPath, JSON.stringify(index));
    expectIndexError(
      indexPath,
      /names it in 'model-00001-of-00002.safetensors', which does not contain it/,
      'layers.9.w',
    );
  });

  it('an index naming a path outside its directory', () => {
    const { indexPath } = shardedDir();
    for (const file of ['../model.safetensors', '/etc/passwd', 'sub/x.safetensors', '..', 3]) {
      writeFileSync(indexPath, JSON.stringify({ weight_map: { w: file } }));
      expectIndexError(indexPath, /is not a file name/, 'w');
    }
  });

  it('an index that is missing, not JSON, or has no weight_map', () => {
    const dir = freshDir();
    mkdirSync(dir);
    const indexPath = join(dir, 'model.safetensors.index.json');
    expectIndexError(indexPath, /cannot read index/);
    writeFileSync(indexPath, '{"weight_map": ');
    expectIndexError(indexPath, /index is not valid JSON/);
    for (const text of ['null', '[]', '{"metadata": {}}', '{"weight_map": ["a"]}']) {
      writeFileSync(indexPath, text);
      expectIndexError(indexPath, /no "weight_map" object/);
    }
  });

  it('a broken shard is reported against the shard file', () => {
    const { dir, indexPath } = shardedDir();
    const shard = join(dir, 'model-00001-of-00002.safetensors');
    writeFileSync(shard, Buffer.from([1, 2, 3]));
    assert.throws(
      () => openShardedSafetensors(indexPath),
      (err: unknown) => err instanceof CheckpointError && err.file === shard,
    );
  });

  it('a directory with no checkpoint in it', () => {
    const dir = freshDir();
    mkdirSync(dir);
    assert.throws(
      () => openCheckpoint(dir),
      (err: unknown) => err instanceof CheckpointError && err.file === dir,
    );
  });
});

describe('atomic writes', () => {
  it('writeFileAtomic replaces a file and leaves no temp file', () => {
    const dir = freshDir();
    mkdirSync(dir);
    const path = join(dir, 'a.txt');
    writeFileAtomic(path, 'one');
    writeFileAtomic(path, new Uint8Array([116, 119, 111]));
    assert.equal(readFileSync(path, 'utf8'), 'two');
    assert.deepEqual(readdirSync(dir), ['a.txt']);
  });

  it('writeDirAtomic creates, then replaces, a directory', async () => {
    const parent = freshDir();
    const finalDir = join(parent, 'ckpt');
    await writeDirAtomic(finalDir, (tmp) => {
      assert.match(tmp, /ckpt\.tmp-\d+-[0-9a-f]+$/);
      saveSafetensors(join(tmp, 'model.safetensors'), { w: tensor([1]) });
    });
    await writeDirAtomic(finalDir, async (tmp) => {
      writeFileSync(join(tmp, 'new.txt'), 'new');
    });
    assert.deepEqual(readdirSync(finalDir), ['new.txt']);
    assert.deepEqual(readdirSync(parent), ['ckpt']);
  });

  it('writeDirAtomic keeps the old directory and removes the temp one when filling fails', async () => {
    const parent = freshDir();
    const finalDir = join(parent, 'ckpt');
    await writeDirAtomic(finalDir, (tmp) => writeFileSync(join(tmp, 'old.txt'), 'old'));
    await assert.rejects(
      writeDirAtomic(finalDir, async (tmp) => {
        writeFileSync(join(tmp, 'partial.txt'), 'x');
        throw new Error('interrupted');
      }),
      /interrupted/,
    );
    assert.deepEqual(readdirSync(parent), ['ckpt']);
    assert.deepEqual(readdirSync(finalDir), ['old.txt']);
  });
});
