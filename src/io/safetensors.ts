import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { allocStorage, type DType, type Storage } from '../engine/dtype.js';
import { type OnProgress, progressReporter } from '../engine/progress.js';
import { numel } from '../engine/shape.js';
import { Tensor } from '../engine/tensor.js';
import type { StateReader } from '../nn/state-dict.js';
import { writeFileAtomicWith, writeFully } from './atomic.js';
import { CheckpointError, fileErrorReason, jsonErrorMessage } from './errors.js';

/** Element types of the safetensors format that lithe reads and writes. */
export type SafetensorsDType = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32' | 'I8' | 'U8' | 'BOOL';

/** One tensor's entry in a safetensors header. */
export interface TensorInfo {
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  /** [begin, end) byte range, relative to the start of the data buffer. */
  readonly dataOffsets: readonly [number, number];
}

export interface SafetensorsHeader {
  /** Tensors in the order their data appears in the file. */
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  /** The `__metadata__` string map ({} when absent). */
  readonly metadata: Readonly<Record<string, string>>;
  /** File position of the data buffer: 8 + the header length. */
  readonly dataStart: number;
}

/** Read access to named tensors, one at a time, without loading the whole checkpoint. */
export interface TensorReader {
  keys(): string[];
  has(name: string): boolean;
  info(name: string): TensorInfo;
  read(name: string): Tensor;
  close(): void;
}

/** A TensorReader as nn's StateReader (headers in lithe dtypes), for loadStateDict and readState. */
export function asStateReader(reader: TensorReader): StateReader {
  return {
    names: reader.keys(),
    shape: (name) => reader.info(name).shape,
    dtype: (name) => TO_LITHE[reader.info(name).dtype],
    read: (name) => reader.read(name),
  };
}

export interface LoadSafetensorsOptions {
  onProgress?: OnProgress;
}

export interface SaveSafetensorsOptions {
  /**
   * String metadata for `__metadata__`, written after `format`, which is 'pt' (what transformers expects)
   * unless given here. The Python library writes several keys in random order (a Rust HashMap); lithe's is fixed.
   */
  metadata?: Readonly<Record<string, string>>;
  /** i32 tensors to store as I64, as PyTorch keeps index tensors: `true` for all of them, or a list of names. */
  i32AsI64?: boolean | readonly string[];
  onProgress?: OnProgress;
}

/** A tensor as it will be stored: its safetensors dtype and byte length. */
export interface StoredTensor {
  readonly name: string;
  readonly tensor: Tensor;
  readonly dtype: SafetensorsDType;
  readonly byteLength: number;
}

// Same limit as the reference implementation; a larger header is far more likely corruption than a real model.
const MAX_HEADER_BYTES = 100_000_000;
// One readSync call moves at most this much; larger tensors are read in pieces.
const READ_CHUNK = 1 << 30;
// Typed arrays use the host byte order, and safetensors data is little-endian.
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const ITEM_SIZE: Record<SafetensorsDType, number> = {
  F64: 8,
  I64: 8,
  F32: 4,
  I32: 4,
  F16: 2,
  BF16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

const TO_LITHE: Record<SafetensorsDType, DType> = {
  F32: 'f32',
  F64: 'f64',
  F16: 'f16',
  BF16: 'bf16',
  I64: 'i32',
  I32: 'i32',
  I8: 'i8',
  U8: 'u8',
  BOOL: 'bool',
};

const FROM_LITHE: Record<DType, SafetensorsDType> = {
  f32: 'F32',
  f64: 'F64',
  f16: 'F16',
  bf16: 'BF16',
  i32: 'I32',
  i8: 'I8',
  u8: 'U8',
  bool: 'BOOL',
};

// The Python library stores tensors by descending position of their dtype in its Rust `Dtype` enum, then by name.
const DTYPE_RANK: Record<SafetensorsDType, number> = {
  BOOL: 0,
  U8: 1,
  I8: 2,
  F16: 3,
  BF16: 4,
  I32: 5,
  F32: 6,
  F64: 7,
  I64: 8,
};

/** Open a safetensors file and validate its header; tensors are read on demand. Call close() when done. */
export function openSafetensors(path: string): SafetensorsFile {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new CheckpointError(path, `cannot open: ${fileErrorReason(err)}`);
  }
  try {
    return new SafetensorsFile(path, fd, readHeader(path, fd));
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** An open safetensors file: the parsed header plus a file handle for reading single tensors. */
export class SafetensorsFile implements TensorReader {
  readonly path: string;
  readonly header: SafetensorsHeader;
  #fd: number | undefined;

  constructor(path: string, fd: number, header: SafetensorsHeader) {
    this.path = path;
    this.#fd = fd;
    this.header = header;
  }

  /** Tensor names in file order. */
  keys(): string[] {
    return [...this.header.tensors.keys()];
  }

  has(name: string): boolean {
    return this.header.tensors.has(name);
  }

  info(name: string): TensorInfo {
    const info = this.header.tensors.get(name);
    if (!info) throw new CheckpointError(this.path, 'no such tensor in the file', name);
    return info;
  }

  /** Read one tensor's bytes straight into a fresh, aligned storage array. */
  read(name: string): Tensor {
    const info = this.info(name);
    if (this.#fd === undefined) throw new CheckpointError(this.path, 'file is closed', name);
    const position = this.header.dataStart + info.dataOffsets[0];
    const n = numel(info.shape);
    if (info.dtype === 'I64') {
      const words = new Int32Array(2 * n);
      readFully(this.path, this.#fd, position, bytesOf(words));
      return new Tensor(narrowI64(this.path, name, words), info.shape, 'i32');
    }
    const dtype = TO_LITHE[info.dtype];
    const data = allocStorage(dtype, n);
    readFully(this.path, this.#fd, position, bytesOf(data));
    return new Tensor(data, info.shape, dtype);
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}

/** Read every tensor of a safetensors file, holding one copy of each tensor in memory. */
export function loadSafetensors(
  path: string,
  options: LoadSafetensorsOptions = {},
): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
  const file = openSafetensors(path);
  try {
    const infos = [...file.header.tensors];
    const total = infos.reduce((sum, [, info]) => sum + info.dataOffsets[1] - info.dataOffsets[0], 0);
    const report = progressReporter(options.onProgress, 'load', total, 'bytes');
    const tensors = new Map<string, Tensor>();
    for (const [name, info] of infos) {
      tensors.set(name, file.read(name));
      report(info.dataOffsets[1]);
    }
    return { tensors, metadata: { ...file.header.metadata } };
  } finally {
    file.close();
  }
}

/**
 * Write tensors to a safetensors file atomically (temp file, then rename), streaming one tensor at a time.
 * The layout matches the Python `safetensors` library byte for byte: tensors ordered by dtype then name,
 * compact JSON header padded with spaces to a multiple of 8.
 */
export function saveSafetensors(
  path: string,
  tensors: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>,
  options: SaveSafetensorsOptions = {},
): void {
  const entries = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  writeStoredTensors(path, storedTensors(path, entries, options.i32AsI64), options);
}

/** Decide each tensor's stored dtype and size (shared with the sharded writer, which needs sizes up front). */
export function storedTensors(
  file: string,
  entries: readonly (readonly [string, Tensor])[],
  i32AsI64: boolean | readonly string[] = false,
): StoredTensor[] {
  const widen = new Set(i32AsI64 === true ? entries.filter(([, t]) => t.dtype === 'i32').map(([n]) => n) : []);
  if (Array.isArray(i32AsI64)) {
    const dtypes = new Map(entries.map(([name, t]) => [name, t.dtype]));
    for (const name of i32AsI64) {
      if (dtypes.get(name) !== 'i32') {
        throw new CheckpointError(
          file,
          `i32AsI64 names it, but it is ${dtypes.get(name) ?? 'not among the tensors'}`,
          name,
        );
      }
      widen.add(name);
    }
  }
  return entries.map(([name, tensor]) => {
    if (name === '__metadata__') throw new CheckpointError(file, 'this name is reserved for the metadata', name);
    const dtype = widen.has(name) ? 'I64' : FROM_LITHE[tensor.dtype];
    return { name, tensor, dtype, byteLength: tensor.size * ITEM_SIZE[dtype] };
  });
}

/** Write prepared tensors as one safetensors file, atomically and one tensor at a time. */
export function writeStoredTensors(
  path: string,
  stored: readonly StoredTensor[],
  options: Pick<SaveSafetensorsOptions, 'metadata' | 'onProgress'>,
): void {
  assertLittleEndianHost(path);
  const given = Object.entries(options.metadata ?? {});
  for (const [key, value] of given) {
    if (typeof value !== 'string') throw new CheckpointError(path, `metadata '${key}' must be a string`);
  }
  // "format" leads, as transformers writes it; a plain object would put integer-like keys before it.
  const metadata: [string, string][] = [
    ['format', options.metadata?.format ?? 'pt'],
    ...given.filter(([k]) => k !== 'format'),
  ];
  const ordered = [...stored].sort(
    (a, b) => DTYPE_RANK[b.dtype] - DTYPE_RANK[a.dtype] || Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)),
  );
  const header = encodeHeader(metadata, ordered);
  const total = ordered.reduce((sum, t) => sum + t.byteLength, 0);
  const report = progressReporter(options.onProgress, 'save', total, 'bytes');
  writeFileAtomicWith(path, (fd) => {
    writeFully(fd, header);
    let done = 0;
    for (const item of ordered) {
      writeFully(fd, storedBytes(item));
      report((done += item.byteLength));
    }
  });
}

/** The 8-byte length, then compact JSON (metadata first, then tensors in data order) padded with spaces to 8 bytes. */
function encodeHeader(metadata: readonly [string, string][], ordered: readonly StoredTensor[]): Buffer {
  // Built by hand because JS objects would move integer-like keys ("0", "1") to the front.
  const pairs = metadata.map(([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value)}`);
  const fields = [`"__metadata__":{${pairs.join(',')}}`];
  let offset = 0;
  for (const { name, tensor, dtype, byteLength } of ordered) {
    const offsets = `[${offset},${offset + byteLength}]`;
    fields.push(
      `${JSON.stringify(name)}:{"dtype":"${dtype}","shape":[${tensor.shape.join(',')}],"data_offsets":${offsets}}`,
    );
    offset += byteLength;
  }
  const json = Buffer.from(`{${fields.join(',')}}`, 'utf8');
  const padding = (8 - (json.length % 8)) % 8;
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length + padding));
  return Buffer.concat([length, json, Buffer.alloc(padding, ' ')]);
}

/** A tensor's little-endian bytes in row-major order, widening i32 to I64 when asked. */
function storedBytes({ tensor, dtype }: StoredTensor): Uint8Array {
  const data = tensor.dataSync();
  if (dtype !== 'I64') return bytesOf(data);
  const words = new Int32Array(2 * data.length);
  for (let i = 0; i < data.length; i++) {
    words[2 * i] = data[i];
    words[2 * i + 1] = data[i] >> 31;
  }
  return bytesOf(words);
}

/** I64 values (as low/high 32-bit word pairs) -> i32, refusing any value outside the i32 range. */
function narrowI64(file: string, name: string, words: Int32Array): Int32Array {
  const out = new Int32Array(words.length / 2);
  for (let i = 0; i < out.length; i++) {
    const low = words[2 * i];
    const high = words[2 * i + 1];
    // A 64-bit value fits in 32 bits exactly when its high word is the sign extension of its low word.
    if (high !== low >> 31) {
      const value = (BigInt(high) << 32n) | BigInt(low >>> 0);
      throw new CheckpointError(file, `I64 value ${value} at index ${i} does not fit in i32`, name);
    }
    out[i] = low;
  }
  return out;
}

function readHeader(file: string, fd: number): SafetensorsHeader {
  assertLittleEndianHost(file);
  const fileSize = fstatSync(fd).size;
  if (fileSize < 8) throw new CheckpointError(file, `file is ${fileSize} bytes, shorter than the 8-byte header length`);
  const lengthBytes = Buffer.alloc(8);
  readFully(file, fd, 0, lengthBytes);
  const declared = lengthBytes.readBigUInt64LE();
  if (declared > BigInt(MAX_HEADER_BYTES)) {
    throw new CheckpointError(file, `header length ${declared} is over the ${MAX_HEADER_BYTES}-byte limit`);
  }
  const headerLength = Number(declared);
  if (8 + headerLength > fileSize) {
    throw new CheckpointError(file, `header length ${headerLength} runs past the end of the ${fileSize}-byte file`);
  }
  const headerBytes = Buffer.alloc(headerLength);
  readFully(file, fd, 8, headerBytes);
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (err) {
    throw new CheckpointError(file, `header is not valid UTF-8 JSON (${jsonErrorMessage(err)})`);
  }
  if (!isPlainObject(raw)) throw new CheckpointError(file, 'header is not a JSON object');

  let metadata: Record<string, string> = {};
  const entries: [string, TensorInfo][] = [];
  for (const [name, value] of Object.entries(raw)) {
    if (name === '__metadata__') metadata = parseMetadata(file, value);
    else entries.push([name, parseTensorInfo(file, name, value)]);
  }

  // The tensors must tile the data buffer exactly: sorted by position, each starts where the previous ended.
  entries.sort(([, a], [, b]) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  let covered = 0;
  let previous = '';
  for (const [name, { dataOffsets }] of entries) {
    const [begin, end] = dataOffsets;
    if (begin > covered) {
      throw new CheckpointError(file, `data starts at byte ${begin}, leaving a hole after byte ${covered}`, name);
    }
    if (begin < covered) {
      throw new CheckpointError(
        file,
        `data [${begin}, ${end}) overlaps tensor '${previous}', which ends at ${covered}`,
        name,
      );
    }
    covered = end;
    previous = name;
  }
  const dataLength = fileSize - 8 - headerLength;
  if (dataLength !== covered) {
    throw new CheckpointError(file, `data buffer is ${dataLength} bytes but the tensors cover ${covered}`);
  }
  return { tensors: new Map(entries), metadata, dataStart: 8 + headerLength };
}

function parseTensorInfo(file: string, name: string, value: unknown): TensorInfo {
  if (!isPlainObject(value)) throw new CheckpointError(file, 'header entry is not an object', name);
  const { dtype, shape, data_offsets: offsets } = value;
  if (typeof dtype !== 'string' || !Object.hasOwn(ITEM_SIZE, dtype)) {
    throw new CheckpointError(file, `unknown dtype ${JSON.stringify(dtype)}`, name);
  }
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    throw new CheckpointError(
      file,
      `shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`,
      name,
    );
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
    throw new CheckpointError(
      file,
      `data_offsets must be [begin, end] with 0 <= begin <= end, got ${JSON.stringify(offsets)}`,
      name,
    );
  }
  const safeDType = dtype as SafetensorsDType;
  const expected = numel(shape) * ITEM_SIZE[safeDType];
  if (offsets[1] - offsets[0] !== expected) {
    throw new CheckpointError(
      file,
      `data_offsets span ${offsets[1] - offsets[0]} bytes but shape [${shape}] of ${dtype} needs ${expected}`,
      name,
    );
  }
  return { dtype: safeDType, shape: Object.freeze([...shape]), dataOffsets: [offsets[0], offsets[1]] };
}

function parseMetadata(file: string, value: unknown): Record<string, string> {
  if (!isPlainObject(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw new CheckpointError(file, '__metadata__ must map strings to strings');
  }
  return value as Record<string, string>;
}

/** Fill `into` from the file at `position`; a short read means the file changed under us. */
function readFully(file: string, fd: number, position: number, into: Uint8Array): void {
  for (let done = 0; done < into.length; ) {
    let got: number;
    try {
      got = readSync(fd, into, done, Math.min(READ_CHUNK, into.length - done), position + done);
    } catch (err) {
      throw new CheckpointError(file, `cannot read: ${fileErrorReason(err)}`);
    }
    if (got === 0) throw new CheckpointError(file, `unexpected end of file at byte ${position + done}`);
    done += got;
  }
}

function bytesOf(data: Storage): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function assertLittleEndianHost(file: string): void {
  if (!HOST_IS_LITTLE_ENDIAN) throw new CheckpointError(file, 'safetensors I/O needs a little-endian host');
}
