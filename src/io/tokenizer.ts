import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { LitheError } from '../engine/errors.js';
import { type OnProgress, progressReporter } from '../engine/progress.js';
import type { DecoderConfig } from '../models/llama/config.js';
import { writeFileAtomic } from './atomic.js';
import { fileErrorReason, jsonErrorMessage } from './errors.js';

/** A tokenizer file that is missing or malformed, or ids a tokenizer cannot decode. */
export class TokenizerError extends LitheError {
  /** The file at fault. */
  readonly file: string;

  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.file = file;
  }
}

export interface EncodeOptions {
  /** Run the post-processor (a TemplateProcessing adds e.g. BOS); as in Python `tokenizers`, ByteLevel adds nothing. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens such as `<|endoftext|>` from the text. Default false, so decoding is lossless. */
  skipSpecialTokens?: boolean;
}

/** A Hugging Face `tokenizer.json` tokenizer; ids match Python `tokenizers` exactly. */
export interface LitheTokenizer {
  /** The tokenizer.json it was loaded from. */
  readonly file: string;
  /** Vocabulary size including added tokens (Python's `get_vocab_size(with_added_tokens=True)`). */
  readonly vocabSize: number;
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  encode(text: string, options?: EncodeOptions): Int32Array;
  decode(ids: ArrayLike<number>, options?: DecodeOptions): string;
  /** The parsed tokenizer.json. */
  toJSON(): unknown;
  /** Write tokenizer.json (and tokenizer_config.json when one was loaded) into `dir`, byte for byte unchanged. */
  save(dir: string): void;
}

interface AddedTokenJson {
  id: number;
  content: string;
  special?: boolean;
}

interface TokenizerJson {
  model: { vocab?: unknown };
  added_tokens?: AddedTokenJson[];
  post_processor?: { type?: string; single?: TemplatePiece[] } | null;
}

/** One piece of a TemplateProcessing template: a special token or the sequence `$A`. */
type TemplatePiece = { SpecialToken?: { id: string }; Sequence?: unknown };

// Special-token spellings that conventionally mean begin / end of text (GPT-2's `<|endoftext|>` is both).
const BOS_NAMES = ['<s>', '<bos>', '<|begin_of_text|>', '<|startoftext|>', '<|endoftext|>'];
const EOS_NAMES = ['</s>', '<eos>', '<|end_of_text|>', '<|endoftext|>'];

/** Load `tokenizer.json` from a file path or a directory holding one (plus optional tokenizer_config.json, config.json). */
export function loadTokenizer(pathOrDir: string): LitheTokenizer {
  const file =
    existsSync(pathOrDir) && statSync(pathOrDir).isDirectory() ? join(pathOrDir, 'tokenizer.json') : pathOrDir;
  const dir = dirname(file);
  const raw = readText(file);
  if (raw === undefined) throw new TokenizerError(file, 'no such file');
  const json = parseJson(file, raw) as TokenizerJson;
  if (json === null || typeof json !== 'object' || typeof json.model !== 'object' || json.model === null) {
    throw new TokenizerError(file, 'not a tokenizer.json (no "model" object)');
  }
  const configFile = join(dir, 'tokenizer_config.json');
  const configRaw = readText(configFile);
  const tokenizerConfig = configRaw === undefined ? {} : (parseJson(configFile, configRaw) as Record<string, unknown>);
  const modelConfigFile = join(dir, 'config.json');
  const modelConfigRaw = readText(modelConfigFile);
  const modelConfig =
    modelConfigRaw === undefined ? {} : (parseJson(modelConfigFile, modelConfigRaw) as Record<string, unknown>);

  let hf: HfTokenizer;
  try {
    hf = new HfTokenizer({ added_tokens: [], ...json }, tokenizerConfig);
  } catch (err) {
    throw new TokenizerError(file, `cannot build the tokenizer: ${(err as Error).message}`);
  }
  const vocab = hf.get_vocab(true);
  // Python counts the vocabulary; an id gap would make that smaller than the largest id + 1, which must still decode.
  let vocabSize = vocab.size;
  for (const id of vocab.values()) vocabSize = Math.max(vocabSize, id + 1);
  const bosTokenId = specialTokenId(hf, json, tokenizerConfig.bos_token, modelConfig.bos_token_id, BOS_NAMES, 'first');
  const eosTokenId = specialTokenId(hf, json, tokenizerConfig.eos_token, modelConfig.eos_token_id, EOS_NAMES, 'last');

  return {
    file,
    vocabSize,
    bosTokenId,
    eosTokenId,
    encode(text, { addSpecialTokens = false } = {}) {
      return Int32Array.from(hf.encode(text, { add_special_tokens: addSpecialTokens }).ids);
    },
    decode(ids, { skipSpecialTokens = false } = {}) {
      const list = Array.from(ids);
      const bad = list.find((id) => !Number.isInteger(id) || id < 0 || id >= vocabSize);
      if (bad !== undefined)
        throw new TokenizerError(file, `cannot decode id ${bad}: ids are integers in [0, ${vocabSize})`);
      // The library rejects an empty list; Python returns ''. Cleanup is off because Python `tokenizers` does none.
      if (list.length === 0) return '';
      return hf.decode(list, { skip_special_tokens: skipSpecialTokens, clean_up_tokenization_spaces: false });
    },
    toJSON: () => json,
    save(outDir) {
      mkdirSync(outDir, { recursive: true });
      writeFileAtomic(join(outDir, 'tokenizer.json'), raw);
      if (configRaw !== undefined) writeFileAtomic(join(outDir, 'tokenizer_config.json'), configRaw);
    },
  };
}

/** A file's text, or undefined when it does not exist. */
function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new TokenizerError(file, fileErrorReason(err));
  }
}

function parseJson(file: string, raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch (err) {
    throw new TokenizerError(file, `invalid JSON: ${jsonErrorMessage(err)}`);
  }
}

/**
 * BOS or EOS id, from the first source that names one: tokenizer_config.json's token, config.json's id,
 * a special token opening (BOS) or closing (EOS) the post-processor template, then a conventionally named special token.
 */
function specialTokenId(
  hf: HfTokenizer,
  json: TokenizerJson,
  configToken: unknown,
  configId: unknown,
  names: string[],
  templateEnd: 'first' | 'last',
): number | null {
  const content = typeof configToken === 'string' ? configToken : (configToken as { content?: unknown })?.content;
  if (typeof content === 'string') {
    const id = hf.token_to_id(content);
    if (id !== undefined) return id;
  }
  if (typeof configId === 'number' && Number.isInteger(configId)) return configId;
  const template = json.post_processor?.type === 'TemplateProcessing' ? (json.post_processor.single ?? []) : [];
  const edge = templateEnd === 'first' ? template[0] : template.at(-1);
  const templateId = edge?.SpecialToken === undefined ? undefined : hf.token_to_id(edge.SpecialToken.id);
  if (templateId !== undefined) return templateId;
  const named = (json.added_tokens ?? []).find((t) => t.special && names.includes(t.content));
  return named?.id ?? null;
}

/**
 * Throws a TokenizerError when the tokenizer can produce an id (added and special tokens included) that the model in
 * modelDir has no embedding row for: the embedding lookup would fail mid-run, or read past the matrix.
 */
export function checkTokenizerFits(tokenizer: LitheTokenizer, config: DecoderConfig, modelDir: string): void {
  if (tokenizer.vocabSize <= config.vocabSize) return;
  throw new TokenizerError(
    tokenizer.file,
    `has ${tokenizer.vocabSize} token ids (the largest is ${tokenizer.vocabSize - 1}), more than the ` +
      `${config.vocabSize} of the model in ${modelDir} (config.json vocab_size): use the model's own tokenizer`,
  );
}

/**
 * Documents encoded each on its own, each followed by EOS (when the tokenizer has one), concatenated: the stream
 * llama-ref was trained and evaluated on. Encoding the joined text instead merges tokens across document boundaries.
 */
export function encodeDocuments(
  tokenizer: LitheTokenizer,
  documents: readonly string[],
  options: { onProgress?: OnProgress } = {},
): Int32Array {
  const report = progressReporter(options.onProgress, 'tokenize', documents.length, 'doc');
  const parts = documents.map((doc, i) => {
    const ids = tokenizer.encode(doc);
    report(i + 1);
    return ids;
  });
  const eos = tokenizer.eosTokenId === null ? [] : [tokenizer.eosTokenId];
  const out = new Int32Array(parts.reduce((n, ids) => n + ids.length + eos.length, 0));
  let offset = 0;
  for (const ids of parts) {
    out.set(ids, offset);
    out.set(eos, offset + ids.length);
    offset += ids.length + eos.length;
  }
  return out;
}
