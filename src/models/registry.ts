import type { Module } from '../nn/module.js';
import { ConfigError, type DecoderConfig, parseDecoderConfig } from './llama/config.js';
import { DecoderForCausalLM, expectedParameterShapes } from './llama/model.js';

type Json = Record<string, unknown>;

/**
 * One family of models lithe can load: which config.json `architectures` it builds, how it reads the config, and how
 * it builds a model to load weights into. Adding a family is one entry in MODEL_FAMILIES (and one test).
 */
export interface ModelFamily<C = unknown, M extends Module = Module> {
  /** The config.json `architectures` names this family builds. */
  readonly architectures: readonly string[];
  /** model_type -> architecture, for a config.json without an `architectures` list. */
  readonly modelTypes?: Readonly<Record<string, string>>;
  /** Normalise config.json (unsupported fields raise a ConfigError naming them). */
  parseConfig(raw: Json, file?: string): C;
  /** A model with zero weights, to be loaded. */
  build(config: C): M;
  /** Every state tensor's name and shape from the config alone, so a checkpoint is checked before anything is allocated. */
  stateShapes?(config: C): Iterable<[string, number[]]>;
  /** Checkpoint tensors that are not the model's state and are not an error (a tied lm_head, RoPE's inv_freq). */
  ignoresTensor?(name: string, config: C): boolean;
}

/** The LLaMA-family decoder: LLaMA, Qwen2 and Mistral are one model with config switches. */
export const DECODER_FAMILY: ModelFamily<DecoderConfig, DecoderForCausalLM> = {
  architectures: ['LlamaForCausalLM', 'Qwen2ForCausalLM', 'MistralForCausalLM'],
  modelTypes: { llama: 'LlamaForCausalLM', qwen2: 'Qwen2ForCausalLM', mistral: 'MistralForCausalLM' },
  parseConfig: parseDecoderConfig,
  build: (config) => new DecoderForCausalLM(config, { init: false }),
  stateShapes: expectedParameterShapes,
  ignoresTensor: (name, config) =>
    (config.tieWordEmbeddings && name === 'lm_head.weight') || name.endsWith('rotary_emb.inv_freq'),
};

/** Every family lithe builds, in lookup order. */
export const MODEL_FAMILIES: readonly ModelFamily[] = [DECODER_FAMILY as ModelFamily];

/** A config.json architecture (or model_type) that no registered family builds; names the supported ones. */
export class UnsupportedArchitectureError extends ConfigError {
  constructor(
    message: string,
    field: 'architectures' | 'model_type',
    file: string | null,
    readonly supported: readonly string[],
  ) {
    super(message, field, file);
  }
}

/** The family that builds config.json's first `architectures` entry (or its model_type when there is no list). */
export function familyFor(
  raw: Json,
  file: string | null = null,
  families: readonly ModelFamily[] = MODEL_FAMILIES,
): { family: ModelFamily; architecture: string } {
  const supported = families.flatMap((f) => f.architectures);
  const archList = raw.architectures;
  if (Array.isArray(archList) && archList.length > 0) {
    const named = String(archList[0]);
    const family = families.find((f) => f.architectures.includes(named));
    if (!family) {
      throw new UnsupportedArchitectureError(
        `unsupported architecture '${named}' (supported: ${supported.join(', ')})`,
        'architectures',
        file,
        supported,
      );
    }
    return { family, architecture: named };
  }
  const modelType = typeof raw.model_type === 'string' ? raw.model_type : undefined;
  for (const family of families) {
    const types = family.modelTypes ?? {};
    if (modelType !== undefined && Object.hasOwn(types, modelType)) return { family, architecture: types[modelType] };
  }
  throw new UnsupportedArchitectureError(
    `unsupported model_type '${modelType ?? '(none)'}'`,
    'model_type',
    file,
    supported,
  );
}
