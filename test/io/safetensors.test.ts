import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tensor } from '../../src/engine/create.js';
import type { DType, Storage } from '../../src/engine/dtype.js';
import type { Progress } from '../../src/engine/progress.js';
import { Tensor } from '../../src/engine/tensor.js';
import { CheckpointError } from '../../src/io/errors.js';
import { loadSafetensors, openSafetensors, saveSafetensors } from '../../src/io/safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'lithe-safetensors-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const golden = fileURLToPath(new URL('../../../test/golden/safetensors/', import.meta.url));

let fileCount = 0;
const freshPath = (): string => join(dir, `t${fileCount++}.safetensors`);

function bytesOf(data: Storage): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** The header JSON text of a safetensors file, padding included. */
function headerText(path: string): string {
  const bytes = readFileSync(path);
  return bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8');
}

/** Every bit pattern of a 16-bit format, and the f32/f64 values that tend to break codecs (NaN payloads, -0, subnormals). */
function specialStorage(dtype: DType): Storage {
  switch (dtype) {
    case 'f16':
    case 'bf16':
      return Uint16Array.from({ length: 0x10000 }, (_, i) => i);
    case 'f32':
      return new Float32Array(
        new Uint32Array([0x7fc00000, 0x7f800001, 0xffc12345, 0x7f800000, 0xff800000, 0x80000000, 1, 0x3f800000]).buffer,
      );
    case 'f64':
      return Float64Array.from([Number.NaN, -0, Number.MIN_VALUE, Number.MAX_VALUE, -Infinity, Math.PI]);
    case 'i8':
      return Int8Array.from({ length: 256 }, (_, i) => i - 128);
    case 'u8':
      return Uint8Array.from({ length: 256 }, (_, i) => i);
    case 'bool':
      return Uint8Array.from([1, 0, 0, 1, 1]);
    case 'i32':
      return Int32Array.from([-2147483648, -1, 0, 1, 2147483647]);
  }
}

function expectCheckpointError(fn: () => unknown, file: string, pattern: RegExp, tensorName?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CheckpointError, `expected CheckpointError, got ${String(err)}`);
    assert.equal(err.file, file);
    assert.ok(err.message.includes(file), `message names the file: ${err.message}`);
    assert.equal(err.tensor, tensorName);
    if (tensorName !== undefined)
      assert.ok(err.message.includes(`'${tensorName}'`), `names the tensor: ${err.message}`);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('safetensors round trips', () => {
  it('every dtype round-trips bit for bit', () => {
    const dtypes: DType[] = ['f32', 'f64', 'f16', 'bf16', 'i8', 'u8', 'i32', 'bool'];
    const tensors = new Map(
      dtypes.map((d) => [`t_${d}`, new Tensor(specialStorage(d), [specialStorage(d).length], d)]),
    );
    const path = freshPath();
    saveSafetensors(path, tensors);
    const loaded = loadSafetensors(path);
    assert.deepEqual([...loaded.tensors.keys()].sort(), [...tensors.keys()].sort());
    for (const [name, original] of tensors) {
      const got = loaded.tensors.get(name)!;
      assert.equal(got.dtype, original.dtype, name);
      assert.deepEqual(got.shape, original.shape, name);
      assert.ok(bytesOf(got.dataSync()).equals(bytesOf(original.dataSync())), `${name} bits differ`);
    }
  });

  it('writes strided views in row-major order and keeps shapes, scalars and empty tensors', () => {
    const base = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const transposed = new Tensor(base.storage, [3, 2], 'f32', [1, 3]);
    const path = freshPath();
    saveSafetensors(path, {
      transposed,
      scalar: tensor([7], []),
      empty: new Tensor(new Float32Array(0), [2, 0], 'f32'),
    });
    const { tensors } = loadSafetensors(path);
    assert.deepEqual(tensors.get('transposed')!.toArray(), [1, 4, 2, 5, 3, 6]);
    assert.deepEqual(tensors.get('scalar')!.shape, []);
    assert.equal(tensors.get('scalar')!.item(), 7);
    assert.deepEqual(tensors.get('empty')!.shape, [2, 0]);
  });

  it('pads the header with spaces to a multiple of 8, metadata first with "format": "pt"', () => {
    for (const name of ['a', 'ab', 'abc', 'abcd', 'abcde', 'abcdef', 'abcdefg', 'abcdefgh']) {
      const path = freshPath();
      saveSafetensors(path, { [name]: tensor([1]) });
      const text = headerText(path);
      assert.equal(text.length % 8, 0);
      assert.match(text, /^\{"__metadata__":\{"format":"pt"\},/);
      assert.match(text, /\} *$/);
      assert.equal(text.length - text.trimEnd().length, (8 - (text.trimEnd().length % 8)) % 8);
    }
  });

  it('orders tensors as the Python library does: dtype (widest first), then name', () => {
    const path = freshPath();
    saveSafetensors(path, {
      a: tensor([1], [1], { dtype: 'u8' }),
      b: tensor([1], [1], { dtype: 'f64' }),
      c: tensor([1], [1], { dtype: 'bf16' }),
      d: tensor([1], [1], { dtype: 'f16' }),
      '10': tensor([1]),
      '9': tensor([1]),
      e: tensor([1], [1], { dtype: 'i32' }),
    });
    const names = [...headerText(path).matchAll(/"([^"]+)":\{"dtype"/g)].map((m) => m[1]);
    assert.deepEqual(names, ['b', '10', '9', 'e', 'c', 'd', 'a']);
    assert.deepEqual(openSafetensors(path).keys(), names);
  });

  it('stores string metadata; "format" can be overridden but is always present', () => {
    const path = freshPath();
    saveSafetensors(path, { w: tensor([1, 2]) }, { metadata: { author: 'lithe', '0': 'zero' } });
    assert.deepEqual(loadSafetensors(path).metadata, { format: 'pt', author: 'lithe', '0': 'zero' });
    assert.match(headerText(path), /^\{"__metadata__":\{"format":"pt","0":"zero","author":"lithe"\}/);
    saveSafetensors(path, { w: tensor([1, 2]) }, { metadata: { format: 'np' } });
    assert.deepEqual(loadSafetensors(path).metadata, { format: 'np' });
    const bad = { metadata: { step: 3 } as unknown as Record<string, string> };
    expectCheckpointError(
      () => saveSafetensors(path, { w: tensor([1]) }, bad),
      path,
      /metadata 'step' must be a string/,
    );
  });

  it('reads i32 tensors stored as I64, and writes them as I64 on request', () => {
    const path = freshPath();
    const ids = tensor([-2147483648, -1, 0, 2147483647], [2, 2], { dtype: 'i32' });
    const other = tensor([5], [1], { dtype: 'i32' });
    saveSafetensors(path, { ids, other }, { i32AsI64: ['ids'] });
    assert.equal(openSafetensors(path).info('ids').dtype, 'I64');
    assert.equal(openSafetensors(path).info('other').dtype, 'I32');
    const loaded = loadSafetensors(path).tensors.get('ids')!;
    assert.equal(loaded.dtype, 'i32');
    assert.deepEqual(loaded.toArray(), ids.toArray());
    saveSafetensors(path, { ids, other }, { i32AsI64: true });
    assert.equal(openSafetensors(path).info('other').dtype, 'I64');
    expectCheckpointError(
      () => saveSafetensors(path, { w: tensor([1]) }, { i32AsI64: ['w'] }),
      path,
      /i32AsI64 names it, but it is f32/,
      'w',
    );
  });

  it('refuses I64 values outside the i32 range, naming the tensor', () => {
    const path = freshPath();
    writeRaw(
      path,
      { big: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } },
      Buffer.from(new BigInt64Array([1n, 2n ** 31n]).buffer),
    );
    expectCheckpointError(
      () => loadSafetensors(path),
      path,
      /I64 value 2147483648 at index 1 does not fit in i32/,
      'big',
    );
  });

  it('reads one tensor at a time from the file, at read time', () => {
    const path = freshPath();
    saveSafetensors(path, { a: tensor([1, 2, 3]), b: tensor([4, 5]) });
    const file = openSafetensors(path);
    try {
      assert.deepEqual(file.keys(), ['a', 'b']);
      assert.deepEqual(file.info('b'), { dtype: 'F32', shape: [2], dataOffsets: [12, 20] });
      // Change b's bytes on disk after opening: a later read must see them, so nothing was read up front.
      const bytes = readFileSync(path);
      bytes.writeFloatLE(9, file.header.dataStart + 12);
      writeFileSync(path, bytes);
      assert.deepEqual(file.read('b').toArray(), [9, 5]);
      assert.deepEqual(file.read('a').toArray(), [1, 2, 3]);
      expectCheckpointError(() => file.read('nope'), path, /no such tensor/, 'nope');
    } finally {
      file.close();
    }
    expectCheckpointError(() => file.read('a'), path, /closed/, 'a');
  });

  it('copies tensors from unaligned offsets into aligned arrays', () => {
    const path = freshPath();
    saveSafetensors(path, {
      a: tensor([1, 2, 3], [3], { dtype: 'u8' }),
      b: tensor([0.5, -1.5], [2], { dtype: 'f64' }),
    });
    // The library order puts the f64 first; rewrite by hand with the byte tensor first so the f64 starts at offset 3.
    const f64 = Buffer.from(Float64Array.from([0.5, -1.5]).buffer);
    writeRaw(
      path,
      {
        a: { dtype: 'U8', shape: [3], data_offsets: [0, 3] },
        b: { dtype: 'F64', shape: [2], data_offsets: [3, 19] },
      },
      Buffer.concat([Buffer.from([1, 2, 3]), f64]),
      ' ',
    );
    const b = loadSafetensors(path).tensors.get('b')!;
    assert.equal(b.dataSync().byteOffset % 8, 0);
    assert.deepEqual(b.toArray(), [0.5, -1.5]);
  });

  it('reports progress in bytes when saving and loading', () => {
    const path = freshPath();
    const events: Progress[] = [];
    saveSafetensors(
      path,
      { a: tensor([1, 2]), b: tensor([3], [1], { dtype: 'f64' }) },
      { onProgress: (e) => events.push(e) },
    );
    loadSafetensors(path, { onProgress: (e) => events.push(e) });
    assert.deepEqual(
      events.map((e) => [e.phase, e.done, e.total, e.unit]),
      [
        ['save', 8, 16, 'bytes'],
        ['save', 16, 16, 'bytes'],
        ['load', 8, 16, 'bytes'],
        ['load', 16, 16, 'bytes'],
      ],
    );
  });

  it('leaves the old file in place and no temp file when a save fails midway', () => {
    const sub = mkdtempSync(join(dir, 'atomic-'));
    const path = join(sub, 'model.safetensors');
    saveSafetensors(path, { a: tensor([1]) });
    const before = readFileSync(path);
    const broken = tensor([2, 3]);
    broken.dataSync = () => {
      throw new Error('disk on fire');
    };
    assert.throws(() => saveSafetensors(path, { a: tensor([1]), b: broken }), /disk on fire/);
    assert.ok(readFileSync(path).equals(before));
    assert.deepEqual(readdirSync(sub), ['model.safetensors']);
  });
});

/** Write a safetensors file by hand: 8-byte length, header (padded with `pad` to 8 bytes if given), data. */
function writeRaw(path: string, header: unknown, data: Buffer = Buffer.alloc(0), pad?: string): void {
  let text = typeof header === 'string' ? header : JSON.stringify(header);
  if (pad !== undefined) text = text.padEnd(Math.ceil(text.length / 8) * 8, pad);
  const json = Buffer.from(text, 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(path, Buffer.concat([length, json, data]));
}

describe('safetensors validation', () => {
  const f32 = (begin: number, end: number, shape = [(end - begin) / 4]) => ({
    dtype: 'F32',
    shape,
    data_offsets: [begin, end],
  });
  const malformed = (header: unknown, data = Buffer.alloc(0)): string => {
    const path = freshPath();
    writeRaw(path, header, data);
    return path;
  };

  it('a missing file', () => {
    const path = join(dir, 'missing.safetensors');
    expectCheckpointError(() => openSafetensors(path), path, /cannot open/);
  });

  it('a file shorter than 8 bytes', () => {
    const path = freshPath();
    writeFileSync(path, Buffer.from([1, 0, 0]));
    expectCheckpointError(() => openSafetensors(path), path, /3 bytes, shorter than the 8-byte header length/);
  });

  it('a header length past the end of the file', () => {
    const path = freshPath();
    const bytes = Buffer.alloc(20);
    bytes.writeBigUInt64LE(13n);
    writeFileSync(path, bytes);
    expectCheckpointError(() => openSafetensors(path), path, /header length 13 runs past the end of the 20-byte file/);
  });

  it('a header length over 100 MB', () => {
    const path = freshPath();
    const bytes = Buffer.alloc(16);
    bytes.writeBigUInt64LE(100_000_001n);
    writeFileSync(path, bytes);
    expectCheckpointError(() => openSafetensors(path), path, /over the 100000000-byte limit/);
    bytes.writeBigUInt64LE(2n ** 64n - 1n);
    writeFileSync(path, bytes);
    expectCheckpointError(() => openSafetensors(path), path, /over the 100000000-byte limit/);
  });

  it('a header that is not JSON, not UTF-8, or not an object', () => {
    for (const text of ['{"a": ', 'not json']) {
      const path = malformed(text);
      expectCheckpointError(() => openSafetensors(path), path, /header is not valid UTF-8 JSON/);
    }
    const path = freshPath();
    writeFileSync(path, Buffer.concat([Buffer.from([2, 0, 0, 0, 0, 0, 0, 0]), Buffer.from([0xc3, 0x28])]));
    expectCheckpointError(() => openSafetensors(path), path, /header is not valid UTF-8 JSON/);
    for (const header of ['[]', 'null', '"x"', '3']) {
      const p = malformed(header);
      expectCheckpointError(() => openSafetensors(p), p, /header is not a JSON object/);
    }
  });

  it('an entry that is not an object', () => {
    const path = malformed({ w: [1, 2] });
    expectCheckpointError(() => openSafetensors(path), path, /header entry is not an object/, 'w');
  });

  it('an unknown dtype', () => {
    for (const dtype of ['F8_E4M3', 'f32', 'toString', 7]) {
      const path = malformed({ w: { dtype, shape: [1], data_offsets: [0, 4] } }, Buffer.alloc(4));
      expectCheckpointError(() => openSafetensors(path), path, /unknown dtype/, 'w');
    }
  });

  it('a shape that is not a list of non-negative integers', () => {
    for (const shape of [[-1], [1.5], '4', ['4'], null, [2 ** 53]]) {
      const path = malformed({ w: { dtype: 'F32', shape, data_offsets: [0, 4] } }, Buffer.alloc(4));
      expectCheckpointError(() => openSafetensors(path), path, /shape must be a list of non-negative integers/, 'w');
    }
  });

  it('data_offsets that are not [begin, end] with begin <= end', () => {
    for (const offsets of [[0], [0, 4, 8], [8, 4], [-4, 0], [0, 4.5], '0,4', undefined]) {
      const path = malformed({ w: { dtype: 'F32', shape: [1], data_offsets: offsets } }, Buffer.alloc(8));
      expectCheckpointError(() => openSafetensors(path), path, /data_offsets must be \[begin, end\]/, 'w');
    }
  });

  it('a byte size that does not match shape and dtype', () => {
    const path = malformed({ w: f32(0, 8, [3]) }, Buffer.alloc(8));
    expectCheckpointError(() => openSafetensors(path), path, /span 8 bytes but shape \[3\] of F32 needs 12/, 'w');
  });

  it('a hole in the data buffer', () => {
    const atStart = malformed({ w: f32(4, 8) }, Buffer.alloc(8));
    expectCheckpointError(
      () => openSafetensors(atStart),
      atStart,
      /starts at byte 4, leaving a hole after byte 0/,
      'w',
    );
    const between = malformed({ a: f32(0, 4), b: f32(8, 12) }, Buffer.alloc(12));
    expectCheckpointError(
      () => openSafetensors(between),
      between,
      /starts at byte 8, leaving a hole after byte 4/,
      'b',
    );
  });

  it('overlapping tensors', () => {
    const path = malformed({ a: f32(0, 8), b: f32(4, 12) }, Buffer.alloc(12));
    expectCheckpointError(() => openSafetensors(path), path, /\[4, 12\) overlaps tensor 'a', which ends at 8/, 'b');
    const same = malformed({ a: f32(0, 4), b: f32(0, 4) }, Buffer.alloc(4));
    expectCheckpointError(() => openSafetensors(same), same, /overlaps tensor 'a'/, 'b');
  });

  it('a data buffer longer or shorter than the last end', () => {
    const longer = malformed({ a: f32(0, 4) }, Buffer.alloc(6));
    expectCheckpointError(() => openSafetensors(longer), longer, /data buffer is 6 bytes but the tensors cover 4/);
    const shorter = malformed({ a: f32(0, 8) }, Buffer.alloc(4));
    expectCheckpointError(() => openSafetensors(shorter), shorter, /data buffer is 4 bytes but the tensors cover 8/);
  });

  it('__metadata__ that is not a string-to-string map', () => {
    for (const metadata of [{ step: 1 }, ['a'], 'pt', null, { a: 'b', c: { d: 'e' } }]) {
      const path = malformed({ __metadata__: metadata, a: f32(0, 4) }, Buffer.alloc(4));
      expectCheckpointError(() => openSafetensors(path), path, /__metadata__ must map strings to strings/);
    }
  });

  it('accepts a file with no tensors and zero-size tensors sharing an offset', () => {
    const empty = malformed({});
    assert.deepEqual(openSafetensors(empty).keys(), []);
    const zeros = malformed({ a: f32(0, 0, [0]), b: f32(0, 0, [3, 0]), c: f32(0, 4) }, Buffer.alloc(4));
    assert.deepEqual(loadSafetensors(zeros).tensors.get('b')!.shape, [3, 0]);
  });
});

interface GoldenCase {
  metadata: Record<string, string>;
  tensors: Record<string, { dtype: string; shape: number[]; values: (number | string)[] }>;
}

const NUMPY_TO_LITHE: Record<string, DType> = {
  bool: 'bool',
  float16: 'f16',
  float32: 'f32',
  float64: 'f64',
  int64: 'i32',
  int32: 'i32',
  int8: 'i8',
  uint8: 'u8',
};

describe('golden files from the Python safetensors library', () => {
  for (const name of ['all_dtypes', 'no_metadata', 'metadata']) {
    it(`reads ${name}.safetensors exactly`, () => {
      const expected = JSON.parse(readFileSync(join(golden, `${name}.json`), 'utf8')) as GoldenCase;
      const { tensors, metadata } = loadSafetensors(join(golden, `${name}.safetensors`));
      assert.deepEqual(metadata, expected.metadata);
      assert.deepEqual([...tensors.keys()].sort(), Object.keys(expected.tensors).sort());
      for (const [tensorName, want] of Object.entries(expected.tensors)) {
        const got = tensors.get(tensorName)!;
        assert.equal(got.dtype, NUMPY_TO_LITHE[want.dtype], tensorName);
        assert.deepEqual(got.shape, want.shape, tensorName);
        const values = want.values.map((v) => (typeof v === 'number' ? v : Number(v.replace('inf', 'Infinity'))));
        // deepStrictEqual tells -0 from 0 and treats NaN as equal to NaN.
        assert.deepEqual(got.toArray(), values, tensorName);
      }
    });
  }

  it("writes a file byte-identical to the library's (metadata {format: pt}, I64 kept as I64)", () => {
    const source = join(golden, 'all_dtypes.safetensors');
    const file = openSafetensors(source);
    const i64 = file.keys().filter((k) => file.info(k).dtype === 'I64');
    file.close();
    const { tensors } = loadSafetensors(source);
    // Insert in reverse name order to show the writer's ordering does not depend on the caller's.
    const reversed = new Map([...tensors].sort(([a], [b]) => (a < b ? 1 : -1)));
    const path = freshPath();
    saveSafetensors(path, reversed, { i32AsI64: i64 });
    assert.equal(headerText(path), headerText(source));
    assert.ok(readFileSync(path).equals(readFileSync(source)));
  });
});
