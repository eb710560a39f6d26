import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { DType } from '../engine/dtype.js';
import { type OnProgress, progressReporter, throwIfAborted, yieldOrAbort } from '../engine/progress.js';
import { shapesEqual } from '../engine/shape.js';
import type { Tensor } from '../engine/tensor.js';
import { ConfigError, type DecoderConfig, parseDecoderConfig, toHfConfig } from '../models/llama/config.js';
import { DecoderForCausalLM, expectedParameterShapes } from '../models/llama/model.js';
import { CheckpointError, fileErrorReason, jsonErrorMessage } from './errors.js';
import { type OutputDir, withOutputDir } from './output-dir.js';
import { openCheckpoint, saveShardedSafetensors } from './sharded.js';

const HF_DTYPE: Record<DecoderConfig['dtype'], DType> = { float32: 'f32', bfloat16: 'bf16', float16: 'f16' };
const CONFIG_DTYPE: Partial<Record<DType, DecoderConfig['dtype']>> = {
  f32: 'float32',
  bf16: 'bfloat16',
  f16: 'float16',
};

/** Read and normalise `dir/config.json`. */
export function readDecoderConfig(dir: string): DecoderConfig {
  const file = join(dir, 'config.json');
  if (!existsSync(file)) throw new ConfigError('no config.json (is this a Hugging Face model directory?)', null, file);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(fileErrorReason(err), null, file);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`not valid JSON: ${jsonErrorMessage(err)}`, null, file);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new ConfigError('not a JSON object', null, file);
  return parseDecoderConfig(raw as Record<string, unknown>, file);
}

/** The parameter names `config` implies, once the checkpoint's headers hold each with its shape and nothing else. */
function checkAgainstCheckpoint(
  dir: string,
  config: DecoderConfig,
  reader: ReturnType<typeof openCheckpoint>,
): string[] {
  const expected: string[] = [];
  for (const [name, shape] of expectedParameterShapes(config)) {
    if (!reader.has(name)) throw new CheckpointError(dir, 'missing from the checkpoint', name);
    const stored = reader.info(name).shape;
    if (!shapesEqual(stored, shape)) {
      throw new CheckpointError(dir, `has shape [${stored}], the config implies [${shape}]`, name);
    }
    expected.push(name);
  }
  const known = new Set(expected);
  const unexpected = reader
    .keys()
    .filter(
      (k) =>
        !known.has(k) && !(config.tieWordEmbeddings && k === 'lm_head.weight') && !k.endsWith('rotary_emb.inv_freq'),
    );
  if (unexpected.length > 0) {
    throw new CheckpointError(
      dir,
      `holds tensors this ${config.architecture} does not have: ${unexpected.slice(0, 5).join(', ')}`,
    );
  }
  return expected;
}

/**
 * config.json, checked against the checkpoint's tensor headers (no weights are read), so that a config claiming
 * shapes the file does not hold is named before anything is sized from it.
 */
export function readCheckedConfig(dir: string): DecoderConfig {
  if (!existsSync(dir)) throw new CheckpointError(dir, 'no such model directory');
  const config = readDecoderConfig(dir);
  const reader = openCheckpoint(dir);
  try {
    checkAgainstCheckpoint(dir, config, reader);
  } finally {
    reader.close();
  }
  return config;
}

/**
 * Round every parameter to `dtype` in place: the model as saving in `dtype` and loading back gives it, so that a
 * perplexity measured in memory is the saved checkpoint's (SparseGPT's updates are not bf16-representable).
 */
export function roundToStorage(model: DecoderForCausalLM, dtype: DType = HF_DTYPE[model.config.dtype]): void {
  if (dtype === 'f32') return;
  for (const [name, param] of model.namedParameters()) {
    model.setParameter(name, param.to(dtype).to('f32'));
  }
}

export interface LoadOptions {
  onProgress?: OnProgress;
  /** Aborting stops between tensor reads with an OperationAbortedError. */
  signal?: AbortSignal;
}

/** How many of a float tensor's values are NaN or ±Inf (one pass). */
function countNonFinite(data: ArrayLike<number>): number {
  let count = 0;
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) count++;
  return count;
}

/**
 * Load a Hugging Face decoder checkpoint directory (config.json + model.safetensors or a sharded
 * index). Weights are held in f32 for compute whatever their stored dtype. Config and checkpoint are
 * checked against each other (names and shapes, from the headers) before the model is allocated, so a
 * config that does not describe the checkpoint fails fast instead of eating memory; a NaN or ±Inf
 * weight is an error. Yields to the event loop after each tensor read.
 */
export async function loadDecoder(dir: string, options: LoadOptions = {}): Promise<DecoderForCausalLM> {
  if (!existsSync(dir)) throw new CheckpointError(dir, 'no such model directory');
  const config = readDecoderConfig(dir);
  const reader = openCheckpoint(dir);
  try {
    const expected = checkAgainstCheckpoint(dir, config, reader);
    throwIfAborted(options.signal);
    const model = new DecoderForCausalLM(config, { init: false });
    const report = progressReporter(options.onProgress, 'load', expected.length, 'tensor');
    for (const [i, name] of expected.entries()) {
      const weights = reader.read(name).to('f32');
      const bad = countNonFinite(weights.floatData());
      if (bad > 0) throw new CheckpointError(dir, `${name} holds ${bad} NaN / Inf values`);
      model.setParameter(name, weights);
      report(i + 1);
      await yieldOrAbort(options.signal);
    }
    return model;
  } finally {
    reader.close();
  }
}

export interface SaveOptions {
  /** Storage dtype of the weights (default: the config's dtype, e.g. bf16 for a bf16 checkpoint). */
  dtype?: 'f32' | 'bf16' | 'f16';
  /** Copy tokenizer files (tokenizer.json, tokenizer_config.json, ...) from this directory. */
  tokenizerFrom?: string;
  /** Split into shards no larger than this (bytes or "5GB"). */
  maxShardSize?: number | string;
  /** Extra `__metadata__` strings (lithe's masks and ranks go here). */
  metadata?: Record<string, string>;
  /** Write more files (reports, tokenizer files) into the output, through it so that they are recorded. */
  extraFiles?: (out: OutputDir) => void;
  /** Write into a non-empty directory lithe did not write (nothing in it is deleted). */
  overwrite?: boolean;
  /** Paths the output must not be nor contain, e.g. the model directory being read. */
  inputs?: string[];
}

/** The weight files a save writes or supersedes: model.safetensors, its shards and index. */
const WEIGHT_FILE = /^model(-\d+-of-\d+)?\.safetensors(\.index\.json)?$/;

const TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'generation_config.json',
];

/**
 * Refuse (OutputError) unless every file a checkpoint save would write or replace in `out` is lithe's own:
 * config.json, the weight files (saveShardedSafetensors also removes stale ones) and the tokenizer files.
 * Callers run it before long work, so that a clash is found first.
 */
export function claimCheckpointFiles(out: OutputDir, tokenizerFrom?: string): void {
  const weights = readdirSync(out.path).filter((f) => WEIGHT_FILE.test(f));
  const tokenizer = tokenizerFrom ? TOKENIZER_FILES.filter((f) => existsSync(join(tokenizerFrom, f))) : [];
  for (const name of ['config.json', 'model.safetensors', ...weights, ...tokenizer]) out.claim(name);
}

/**
 * Write an HF checkpoint into `dir` (new or existing), each file atomically: config.json, model.safetensors (or
 * shards), tokenizer files. Nothing already in `dir` is deleted but lithe's own earlier output that this save
 * supersedes. Given an open OutputDir (validated before a long run), saveDecoder only writes; the caller commits
 * and closes it.
 */
export async function saveDecoder(
  model: DecoderForCausalLM,
  dir: string | OutputDir,
  options: SaveOptions = {},
): Promise<void> {
  const dtype = options.dtype ?? HF_DTYPE[model.config.dtype];
  const tensors = new Map<string, Tensor>();
  for (const [name, t] of model.namedParameters()) tensors.set(name, t.to(dtype));
  const config = { ...model.config, dtype: CONFIG_DTYPE[dtype] ?? model.config.dtype };
  const write = (out: OutputDir) => {
    claimCheckpointFiles(out, options.tokenizerFrom);
    out.writeFile('config.json', `${JSON.stringify(toHfConfig(config), null, 2)}\n`);
    const saved = saveShardedSafetensors(out.path, tensors, {
      maxShardSize: options.maxShardSize,
      metadata: options.metadata,
    });
    for (const file of [...saved.files, ...(saved.indexFile ? [saved.indexFile] : [])]) out.record(basename(file));
    if (options.tokenizerFrom) {
      for (const f of TOKENIZER_FILES) {
        // Read whole before writing, so that saving into the tokenizer's own directory rewrites it unchanged.
        const src = join(options.tokenizerFrom, f);
        if (existsSync(src)) out.writeFile(f, readFileSync(src));
      }
    }
    options.extraFiles?.(out);
  };
  if (typeof dir !== 'string') write(dir);
  else await withOutputDir(dir, { inputs: options.inputs, overwrite: options.overwrite }, write);
}
