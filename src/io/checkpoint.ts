import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { DType } from '../engine/dtype.js';
import { type OnProgress, throwIfAborted } from '../engine/progress.js';
import { shapesEqual } from '../engine/shape.js';
import type { Tensor } from '../engine/tensor.js';
import { ConfigError, type DecoderConfig, parseDecoderConfig, toHfConfig } from '../models/llama/config.js';
import { DecoderForCausalLM } from '../models/llama/model.js';
import { DECODER_FAMILY, familyFor, type ModelFamily } from '../models/registry.js';
import { LowRankLinear } from '../nn/low-rank-linear.js';
import type { Module } from '../nn/module.js';
import { FLOAT_DTYPES, loadNewModuleState, StateDictError } from '../nn/state-dict.js';
import { CheckpointError, checkpointErrorFrom, fileErrorReason, jsonErrorMessage } from './errors.js';
import { type OutputDir, withOutputDir } from './output-dir.js';
import { asStateReader, type TensorReader } from './safetensors.js';
import { openCheckpoint, saveShardedSafetensors } from './sharded.js';
import { parseSparsityEntry, restoreMasks, type SparsityRecord, sparsityEntry } from './sparsity.js';

const HF_DTYPE: Record<DecoderConfig['dtype'], DType> = { float32: 'f32', bfloat16: 'bf16', float16: 'f16' };
const CONFIG_DTYPE: Partial<Record<DType, DecoderConfig['dtype']>> = {
  f32: 'float32',
  bf16: 'bfloat16',
  f16: 'float16',
};

/** `dir/config.json` as a JSON object, and the file's path; ConfigError when it is missing or not an object. */
function readConfigJson(dir: string): { raw: Record<string, unknown>; file: string } {
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
  return { raw: raw as Record<string, unknown>, file };
}

/** Read and normalise `dir/config.json`. */
export function readDecoderConfig(dir: string): DecoderConfig {
  const { raw, file } = readConfigJson(dir);
  return parseDecoderConfig(raw, file);
}

/**
 * The state names `config` implies (from the family's stateShapes), once the checkpoint's headers hold each with its
 * shape and nothing else but the tensors the family ignores.
 */
function checkAgainstCheckpoint<C>(
  dir: string,
  family: ModelFamily<C>,
  config: C,
  architecture: string,
  reader: TensorReader,
): void {
  const known = new Set<string>();
  for (const [name, shape] of family.stateShapes?.(config) ?? []) {
    if (!reader.has(name)) throw new CheckpointError(dir, 'missing from the checkpoint', name);
    const stored = reader.info(name).shape;
    if (!shapesEqual(stored, shape)) {
      throw new CheckpointError(dir, `has shape [${stored}], the config implies [${shape}]`, name);
    }
    known.add(name);
  }
  if (!family.stateShapes) return;
  const unexpected = reader.keys().filter((k) => !known.has(k) && !family.ignoresTensor?.(k, config));
  if (unexpected.length > 0) {
    throw new CheckpointError(
      dir,
      `holds tensors this ${architecture} does not have: ${unexpected.slice(0, 5).join(', ')}`,
    );
  }
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
    checkAgainstCheckpoint(dir, DECODER_FAMILY, config, config.architecture, reader);
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

export interface LoadModelOptions extends LoadOptions {
  /** The families to dispatch over (default MODEL_FAMILIES). */
  families?: readonly ModelFamily[];
}

/** A state read's check (ReadStateOptions.check) refusing a float tensor that holds NaN or ±Inf, with their count. */
export function rejectNonFinite(name: string, t: Tensor): void {
  if (!FLOAT_DTYPES.has(t.dtype)) return;
  const data = (t.dtype === 'f32' || t.dtype === 'f64' ? t : t.to('f32')).floatData();
  let bad = 0;
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) bad++;
  if (bad > 0) throw new StateDictError(`${name} holds ${bad} NaN / Inf values`);
}

/** A model loaded by loadModel, with what it was built from. */
export interface LoadedModel<C = unknown, M extends Module = Module> {
  family: ModelFamily<C, M>;
  /** The config.json architecture it was built as, e.g. 'Qwen2ForCausalLM'. */
  architecture: string;
  config: C;
  model: M;
  /** config.json's sparsity record, whose masks the model's Linears now carry; null for a dense model. */
  sparsity: SparsityRecord | null;
}

/**
 * Load a Hugging Face model directory (config.json + model.safetensors or a sharded index) as the family that builds
 * config.json's `architectures` (ConfigError naming the supported ones otherwise). Weights are held in f32 for compute
 * whatever their stored dtype. The config is checked against the checkpoint's headers before the model is allocated
 * (when the family can say its shapes from the config), all headers (names, shapes, dtypes) before any tensor is read,
 * and each tensor (no NaN or ±Inf) as it is read into the new model, which a failure discards; a sparsity record in
 * config.json then rebuilds the pruned Linears' masks. Yields to the event loop after each tensor read.
 */
export async function loadModel(dir: string, options: LoadModelOptions = {}): Promise<LoadedModel> {
  if (!existsSync(dir)) throw new CheckpointError(dir, 'no such model directory');
  const { raw, file } = readConfigJson(dir);
  const { family, architecture } = familyFor(raw, file, options.families);
  const config = family.parseConfig(raw, file);
  const sparsity = raw.sparsity === undefined ? null : parseSparsityEntry(raw.sparsity, file);
  const reader = openCheckpoint(dir);
  try {
    checkAgainstCheckpoint(dir, family, config, architecture, reader);
    throwIfAborted(options.signal);
    const model = family.build(config);
    try {
      await loadNewModuleState(model, asStateReader(reader), {
        strict: true,
        ignore: (name) => family.ignoresTensor?.(name, config) ?? false,
        check: rejectNonFinite,
        onProgress: options.onProgress,
        signal: options.signal,
      });
    } catch (err) {
      throw checkpointErrorFrom(err, dir);
    }
    if (sparsity) restoreMasks(model, sparsity, dir);
    return { family, architecture, config, model, sparsity };
  } finally {
    reader.close();
  }
}

/**
 * Load a Hugging Face decoder checkpoint directory (LLaMA, Qwen2, Mistral): loadModel, typed. A NaN or ±Inf weight
 * is an error; a pruned checkpoint's Linears come back with their masks, so fine-tuning keeps its zeros.
 */
export async function loadDecoder(dir: string, options: LoadOptions = {}): Promise<DecoderForCausalLM> {
  const { model, architecture } = await loadModel(dir, { ...options, families: [DECODER_FAMILY as ModelFamily] });
  if (!(model instanceof DecoderForCausalLM)) throw new CheckpointError(dir, `is a ${architecture}, not a decoder`);
  return model;
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

/** config.json's `low_rank` map as the model is now: every factorised Linear's full name and rank. */
export function lowRankRanks(model: Module): Record<string, number> {
  const ranks: Record<string, number> = {};
  for (const [name, m] of model.namedModules()) if (m instanceof LowRankLinear) ranks[name] = m.rank;
  return ranks;
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
  for (const [name, t] of model.namedCheckpointState()) tensors.set(name, t.to(dtype));
  const config = { ...model.config, dtype: CONFIG_DTYPE[dtype] ?? model.config.dtype, lowRank: lowRankRanks(model) };
  const sparsity = sparsityEntry(model, tensors);
  const configJson = sparsity ? { ...toHfConfig(config), sparsity } : toHfConfig(config);
  const write = (out: OutputDir) => {
    claimCheckpointFiles(out, options.tokenizerFrom);
    out.writeFile('config.json', `${JSON.stringify(configJson, null, 2)}\n`);
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
