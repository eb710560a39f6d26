import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { LitheError } from '../engine/errors.js';
import { progressReporter } from '../engine/progress.js';
import type { Tensor } from '../engine/tensor.js';
import { writeFileAtomic } from './atomic.js';
import { CheckpointError, fileErrorReason, jsonErrorMessage } from './errors.js';
import {
  openSafetensors,
  type SafetensorsFile,
  type SaveSafetensorsOptions,
  type StoredTensor,
  storedTensors,
  type TensorInfo,
  type TensorReader,
  writeStoredTensors,
} from './safetensors.js';

export interface SaveShardedOptions extends SaveSafetensorsOptions {
  /** Largest shard in bytes, or a size string such as "5GB" (10^9) or "500MiB" (2^20); default "5GB". */
  maxShardSize?: number | string;
  /** File name stem: `<name>.safetensors`, or `<name>-00001-of-0000N.safetensors` plus `<name>.safetensors.index.json`. */
  name?: string;
}

export interface SavedCheckpoint {
  /** The tensor files written, in shard order. */
  files: string[];
  /** The index file, when the checkpoint was split. */
  indexFile: string | undefined;
  /** Bytes of tensor data across all files. */
  totalSize: number;
}

const UNIT_BYTES: Record<string, number> = {
  '': 1,
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  KIB: 2 ** 10,
  MIB: 2 ** 20,
  GIB: 2 ** 30,
  TIB: 2 ** 40,
};

/** A byte count from a number or a string like "5GB", "1.5 GiB" or "200kb" (decimal units, as Hugging Face uses). */
export function parseByteSize(size: number | string): number {
  if (typeof size === 'number') {
    if (!Number.isSafeInteger(size) || size <= 0)
      throw new LitheError(`byte size must be a positive integer, got ${size}`);
    return size;
  }
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(size);
  const unit = match?.[2].toUpperCase();
  if (!match || unit === undefined || !Object.hasOwn(UNIT_BYTES, unit)) {
    throw new LitheError(`cannot parse byte size '${size}' (try "5GB", "500MiB" or a number of bytes)`);
  }
  return parseByteSize(Math.floor(Number(match[1]) * UNIT_BYTES[unit]));
}

/** The file a checkpoint named `name` is split across: `model-00001-of-00002.safetensors` for shard 1 of 2. */
export function shardFileName(name: string, shard: number, count: number): string {
  const width = Math.max(5, String(count).length);
  return `${name}-${String(shard).padStart(width, '0')}-of-${String(count).padStart(width, '0')}.safetensors`;
}

/**
 * Save tensors into `dir` the way Hugging Face does: one `<name>.safetensors` when everything fits in
 * `maxShardSize`, else numbered shards plus `<name>.safetensors.index.json`. Each file is written atomically,
 * the index last; files of an earlier save under the same name that this one does not reuse are then removed.
 */
export function saveShardedSafetensors(
  dir: string,
  tensors: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>,
  options: SaveShardedOptions = {},
): SavedCheckpoint {
  const name = options.name ?? 'model';
  const maxShardSize = parseByteSize(options.maxShardSize ?? '5GB');
  const entries = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const shards = splitIntoShards(storedTensors(dir, entries, options.i32AsI64), maxShardSize);
  const totalSize = shards.flat().reduce((sum, t) => sum + t.byteLength, 0);
  mkdirSync(dir, { recursive: true });

  const fileNames =
    shards.length === 1 ? [`${name}.safetensors`] : shards.map((_, i) => shardFileName(name, i + 1, shards.length));
  const report = progressReporter(options.onProgress, 'save', totalSize, 'bytes');
  let written = 0;
  shards.forEach((shard, i) => {
    writeStoredTensors(join(dir, fileNames[i]), shard, {
      metadata: options.metadata,
      onProgress: (event) => report(written + event.done),
    });
    written += shard.reduce((sum, t) => sum + t.byteLength, 0);
  });

  let indexFile: string | undefined;
  if (shards.length > 1) {
    indexFile = join(dir, `${name}.safetensors.index.json`);
    const weightMap = shards.flatMap((shard, i) => shard.map((t): [string, string] => [t.name, fileNames[i]]));
    writeFileAtomic(indexFile, encodeIndex(totalSize, weightMap));
  }
  removeStaleFiles(dir, name, new Set(indexFile ? [...fileNames, basename(indexFile)] : fileNames));
  return { files: fileNames.map((f) => join(dir, f)), indexFile, totalSize };
}

/** Open a sharded checkpoint through its index; each shard's header is checked now, tensors are read on demand. */
export function openShardedSafetensors(indexPath: string): ShardedSafetensors {
  const weightMap = readIndex(indexPath);
  const shards = new Map<string, SafetensorsFile>();
  try {
    for (const [tensor, fileName] of weightMap) {
      let shard = shards.get(fileName);
      if (!shard) {
        const shardPath = join(dirname(indexPath), fileName);
        if (!existsSync(shardPath)) throw new CheckpointError(indexPath, `names a missing file '${fileName}'`, tensor);
        shard = openSafetensors(shardPath);
        shards.set(fileName, shard);
      }
      if (!shard.has(tensor)) {
        throw new CheckpointError(indexPath, `names it in '${fileName}', which does not contain it`, tensor);
      }
    }
  } catch (err) {
    for (const shard of shards.values()) shard.close();
    throw err;
  }
  return new ShardedSafetensors(indexPath, weightMap, shards);
}

/** One view over the shards of a checkpoint, with the same interface as a single file. */
export class ShardedSafetensors implements TensorReader {
  readonly indexPath: string;
  /** Tensor name -> shard file name, as the index lists them. */
  readonly weightMap: ReadonlyMap<string, string>;
  readonly #shards: ReadonlyMap<string, SafetensorsFile>;

  constructor(indexPath: string, weightMap: ReadonlyMap<string, string>, shards: ReadonlyMap<string, SafetensorsFile>) {
    this.indexPath = indexPath;
    this.weightMap = weightMap;
    this.#shards = shards;
  }

  keys(): string[] {
    return [...this.weightMap.keys()];
  }

  has(name: string): boolean {
    return this.weightMap.has(name);
  }

  info(name: string): TensorInfo {
    return this.#shardOf(name).info(name);
  }

  read(name: string): Tensor {
    return this.#shardOf(name).read(name);
  }

  close(): void {
    for (const shard of this.#shards.values()) shard.close();
  }

  #shardOf(name: string): SafetensorsFile {
    const fileName = this.weightMap.get(name);
    if (fileName === undefined) throw new CheckpointError(this.indexPath, 'no such tensor in the index', name);
    return this.#shards.get(fileName)!;
  }
}

/**
 * Open whatever checkpoint `path` names: a `.safetensors` file, an index file, or a directory holding
 * `<name>.safetensors.index.json` (preferred, as transformers does) or `<name>.safetensors`.
 */
export function openCheckpoint(path: string, options: { name?: string } = {}): TensorReader {
  if (path.endsWith('.index.json')) return openShardedSafetensors(path);
  if (!existsSync(path) || !statSync(path).isDirectory()) return openSafetensors(path);
  const name = options.name ?? 'model';
  const index = join(path, `${name}.safetensors.index.json`);
  if (existsSync(index)) return openShardedSafetensors(index);
  const single = join(path, `${name}.safetensors`);
  if (existsSync(single)) return openSafetensors(single);
  throw new CheckpointError(path, `holds neither ${name}.safetensors nor ${name}.safetensors.index.json`);
}

/** Hugging Face's split: fill shards in order; a tensor that would overflow the current one starts the next. */
function splitIntoShards(stored: readonly StoredTensor[], maxShardSize: number): StoredTensor[][] {
  const shards: StoredTensor[][] = [];
  let current: StoredTensor[] = [];
  let currentSize = 0;
  for (const item of stored) {
    if (current.length > 0 && currentSize + item.byteLength > maxShardSize) {
      shards.push(current);
      current = [];
      currentSize = 0;
    }
    current.push(item);
    currentSize += item.byteLength;
  }
  if (current.length > 0 || shards.length === 0) shards.push(current);
  return shards;
}

/** The index as transformers writes it: keys sorted, two-space indent, trailing newline. */
function encodeIndex(totalSize: number, weightMap: [string, string][]): string {
  // Built by hand because JS objects would move integer-like keys ("0", "1") to the front.
  const sorted = [...weightMap].sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const lines = sorted.map(([tensor, file]) => `    ${JSON.stringify(tensor)}: ${JSON.stringify(file)}`);
  return `{\n  "metadata": {\n    "total_size": ${totalSize}\n  },\n  "weight_map": {\n${lines.join(',\n')}\n  }\n}\n`;
}

/** Parse and check an index file's weight map (tensor name -> shard file in the same directory). */
function readIndex(indexPath: string): Map<string, string> {
  let text: string;
  try {
    text = readFileSync(indexPath, 'utf8');
  } catch (err) {
    throw new CheckpointError(indexPath, `cannot read index: ${fileErrorReason(err)}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new CheckpointError(indexPath, `index is not valid JSON: ${jsonErrorMessage(err)}`);
  }
  const weightMap = (raw as { weight_map?: unknown } | null)?.weight_map;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw new CheckpointError(indexPath, 'index has no "weight_map" object');
  }
  const out = new Map<string, string>();
  for (const [tensor, file] of Object.entries(weightMap)) {
    // Shards must sit beside the index: a path here could point anywhere on disk.
    if (typeof file !== 'string' || file !== basename(file) || file === '..' || file.includes('\\')) {
      throw new CheckpointError(indexPath, `weight_map entry ${JSON.stringify(file)} is not a file name`, tensor);
    }
    out.set(tensor, file);
  }
  return out;
}

/** Remove `<name>.safetensors`, its shards and its index left by an earlier save, keeping the files in `keep`. */
function removeStaleFiles(dir: string, name: string, keep: ReadonlySet<string>): void {
  const prefix = `${name}.safetensors`;
  const shardPrefix = `${name}-`;
  const shardPattern = /^\d{5,}-of-\d{5,}\.safetensors$/;
  for (const file of readdirSync(dir)) {
    if (keep.has(file)) continue;
    const isOurs =
      file === prefix ||
      file === `${prefix}.index.json` ||
      (file.startsWith(shardPrefix) && shardPattern.test(file.slice(shardPrefix.length)));
    if (isOurs) rmSync(join(dir, file), { force: true });
  }
}
