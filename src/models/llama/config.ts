import { LitheError } from '../../engine/errors.js';
import type { RopeScaling } from '../../ops/rope.js';

/** A config.json field lithe does not support, or a bad value; names the field. */
export class ConfigError extends LitheError {
  constructor(
    message: string,
    readonly field: string | null = null,
    readonly file: string | null = null,
  ) {
    super(file ? `${file}: ${message}` : message);
  }
}

export type DecoderArchitecture = 'LlamaForCausalLM' | 'Qwen2ForCausalLM' | 'MistralForCausalLM';

/** Everything the decoder needs, normalised from either transformers 4.x or 5.x config.json. */
export interface DecoderConfig {
  architecture: DecoderArchitecture;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  /** Biases on q, k and v (always for Qwen2; `attention_bias` for LLaMA, which also biases o). */
  qkvBias: boolean;
  oBias: boolean;
  mlpBias: boolean;
  /** Mistral/Qwen2 sliding-window attention width, or null for full causal attention. */
  slidingWindow: number | null;
  bosTokenId: number | null;
  eosTokenId: number | number[] | null;
  /** Storage dtype of the checkpoint ('float32', 'bfloat16' or 'float16'). */
  dtype: 'float32' | 'bfloat16' | 'float16';
  initializerRange: number;
  /**
   * The factorised block Linears (config.json's `low_rank`): full module name -> rank k, stored as U [out, k] and
   * V [k, in]. Absent or empty for a dense model; a name not in it is a dense Linear.
   */
  lowRank?: Readonly<Record<string, number>>;
}

const ARCHS: Record<string, DecoderArchitecture> = {
  llama: 'LlamaForCausalLM',
  qwen2: 'Qwen2ForCausalLM',
  mistral: 'MistralForCausalLM',
};

type Json = Record<string, unknown>;

function num(raw: Json, field: string, fallback?: number, file?: string): number {
  const v = raw[field];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new ConfigError(`missing required field '${field}'`, field, file);
  }
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new ConfigError(`field '${field}' must be a number`, field, file);
  return v;
}

function positiveInt(raw: Json, field: string, fallback?: number, file?: string): number {
  const v = num(raw, field, fallback, file);
  if (!Number.isInteger(v) || v <= 0) throw new ConfigError(`field '${field}' must be a positive integer`, field, file);
  return v;
}

function parseRope(raw: Json, file?: string): { theta: number; scaling: RopeScaling } {
  // 5.x: rope_parameters holds theta and the type; 4.x: rope_theta plus an optional rope_scaling.
  const params = (raw.rope_parameters ?? null) as Json | null;
  const scalingRaw = (params ?? raw.rope_scaling ?? null) as Json | null;
  const theta = num(params ?? {}, 'rope_theta', num(raw, 'rope_theta', 10000, file), file);
  const type = (scalingRaw?.rope_type ?? scalingRaw?.type ?? 'default') as string;
  const field = params ? 'rope_parameters' : 'rope_scaling';
  switch (type) {
    case 'default':
      return { theta, scaling: { type: 'default' } };
    case 'linear':
      return { theta, scaling: { type: 'linear', factor: num(scalingRaw ?? {}, 'factor', undefined, file) } };
    case 'llama3': {
      const s = scalingRaw ?? {};
      return {
        theta,
        scaling: {
          type: 'llama3',
          factor: num(s, 'factor', undefined, file),
          lowFreqFactor: num(s, 'low_freq_factor', undefined, file),
          highFreqFactor: num(s, 'high_freq_factor', undefined, file),
          originalMaxPositionEmbeddings: num(s, 'original_max_position_embeddings', undefined, file),
        },
      };
    }
    default:
      throw new ConfigError(`unsupported rope type '${type}' (supported: default, linear, llama3)`, field, file);
  }
}

/** A block Linear's name in a `low_rank` map: layer index, module, projection. */
const LOW_RANK_NAME = /^model\.layers\.(\d+)\.(self_attn\.[qkvo]_proj|mlp\.(?:gate|up|down)_proj)$/;

/** config.json's `low_rank` map, checked: every key a block Linear of a layer the config has, every rank a positive integer. */
function parseLowRank(raw: unknown, numLayers: number, file?: string): Record<string, number> {
  const fail = (what: string): never => {
    throw new ConfigError(`field 'low_rank' ${what}`, 'low_rank', file);
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return fail('must be an object (module -> rank)');
  const out: Record<string, number> = {};
  for (const [name, rank] of Object.entries(raw)) {
    const layer = LOW_RANK_NAME.exec(name)?.[1];
    if (layer === undefined || Number(layer) >= numLayers) {
      fail(`names '${name}', which is not a block Linear of this ${numLayers}-layer decoder`);
    }
    if (!(Number.isInteger(rank) && (rank as number) > 0)) fail(`gives '${name}' rank ${JSON.stringify(rank)}`);
    out[name] = rank as number;
  }
  return out;
}

/** Normalise a parsed config.json; unsupported architectures or fields raise a ConfigError naming them. */
export function parseDecoderConfig(raw: Json, file?: string): DecoderConfig {
  const archList = raw.architectures;
  const modelType = raw.model_type as string | undefined;
  let architecture: DecoderArchitecture | undefined;
  if (Array.isArray(archList) && archList.length > 0) {
    const named = archList[0] as string;
    if (!Object.values(ARCHS).includes(named as DecoderArchitecture)) {
      throw new ConfigError(
        `unsupported architecture '${named}' (supported: ${Object.values(ARCHS).join(', ')})`,
        'architectures',
        file,
      );
    }
    architecture = named as DecoderArchitecture;
  } else if (modelType && ARCHS[modelType]) {
    architecture = ARCHS[modelType];
  } else {
    throw new ConfigError(`unsupported model_type '${modelType ?? '(none)'}'`, 'model_type', file);
  }
  const act = raw.hidden_act ?? 'silu';
  if (act !== 'silu') throw new ConfigError(`unsupported hidden_act '${act}' (only silu)`, 'hidden_act', file);
  if ((raw.pretraining_tp ?? 1) !== 1)
    throw new ConfigError('pretraining_tp other than 1 is not supported', 'pretraining_tp', file);
  const hiddenSize = positiveInt(raw, 'hidden_size', undefined, file);
  const numHeads = positiveInt(raw, 'num_attention_heads', undefined, file);
  const numKvHeads = positiveInt(raw, 'num_key_value_heads', numHeads, file);
  if (numHeads % numKvHeads !== 0) {
    throw new ConfigError(
      `num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`,
      'num_key_value_heads',
      file,
    );
  }
  const headDim = positiveInt(raw, 'head_dim', hiddenSize / numHeads, file);
  if (headDim % 2 !== 0) throw new ConfigError(`head_dim ${headDim} must be even for RoPE`, 'head_dim', file);
  const rope = parseRope(raw, file);
  const isQwen = architecture === 'Qwen2ForCausalLM';
  const isLlama = architecture === 'LlamaForCausalLM';
  // Qwen2 only slides when use_sliding_window is set; Mistral whenever sliding_window is a number.
  const window = raw.sliding_window;
  const slidingWindow =
    typeof window === 'number' && !isLlama && (!isQwen || raw.use_sliding_window === true) ? window : null;
  if (
    isQwen &&
    slidingWindow !== null &&
    (raw.max_window_layers ?? 0) !== 0 &&
    raw.max_window_layers !== raw.num_hidden_layers
  ) {
    throw new ConfigError(
      'Qwen2 per-layer sliding windows (max_window_layers) are not supported',
      'max_window_layers',
      file,
    );
  }
  const dtypeRaw = (raw.dtype ?? raw.torch_dtype ?? 'float32') as string;
  if (!['float32', 'bfloat16', 'float16'].includes(dtypeRaw)) {
    throw new ConfigError(`unsupported dtype '${dtypeRaw}'`, raw.dtype ? 'dtype' : 'torch_dtype', file);
  }
  const attentionBias = raw.attention_bias === true;
  return {
    architecture,
    vocabSize: positiveInt(raw, 'vocab_size', undefined, file),
    hiddenSize,
    intermediateSize: positiveInt(raw, 'intermediate_size', undefined, file),
    numLayers: positiveInt(raw, 'num_hidden_layers', undefined, file),
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: num(raw, 'rms_norm_eps', 1e-6, file),
    ropeTheta: rope.theta,
    ropeScaling: rope.scaling,
    maxPositionEmbeddings: positiveInt(raw, 'max_position_embeddings', 2048, file),
    tieWordEmbeddings: raw.tie_word_embeddings === true,
    qkvBias: isQwen || (isLlama && attentionBias),
    oBias: isLlama && attentionBias,
    mlpBias: isLlama && raw.mlp_bias === true,
    slidingWindow,
    bosTokenId: typeof raw.bos_token_id === 'number' ? raw.bos_token_id : null,
    eosTokenId: (raw.eos_token_id as number | number[] | undefined) ?? null,
    dtype: dtypeRaw as DecoderConfig['dtype'],
    initializerRange: num(raw, 'initializer_range', 0.02, file),
    ...(raw.low_rank === undefined
      ? {}
      : { lowRank: parseLowRank(raw.low_rank, positiveInt(raw, 'num_hidden_layers', undefined, file), file) }),
  };
}

const MODEL_TYPES: Record<DecoderArchitecture, string> = {
  LlamaForCausalLM: 'llama',
  Qwen2ForCausalLM: 'qwen2',
  MistralForCausalLM: 'mistral',
};

/** A transformers 5.x style config.json for this config (what lithe writes). */
export function toHfConfig(c: DecoderConfig): Json {
  const rope: Json = { rope_theta: c.ropeTheta, rope_type: c.ropeScaling.type };
  if (c.ropeScaling.type === 'linear') rope.factor = c.ropeScaling.factor;
  if (c.ropeScaling.type === 'llama3') {
    Object.assign(rope, {
      factor: c.ropeScaling.factor,
      low_freq_factor: c.ropeScaling.lowFreqFactor,
      high_freq_factor: c.ropeScaling.highFreqFactor,
      original_max_position_embeddings: c.ropeScaling.originalMaxPositionEmbeddings,
    });
  }
  const out: Json = {
    architectures: [c.architecture],
    model_type: MODEL_TYPES[c.architecture],
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    num_key_value_heads: c.numKvHeads,
    head_dim: c.headDim,
    hidden_act: 'silu',
    max_position_embeddings: c.maxPositionEmbeddings,
    rms_norm_eps: c.rmsNormEps,
    rope_parameters: rope,
    tie_word_embeddings: c.tieWordEmbeddings,
    bos_token_id: c.bosTokenId,
    eos_token_id: c.eosTokenId,
    dtype: c.dtype,
    initializer_range: c.initializerRange,
    use_cache: true,
  };
  if (c.lowRank && Object.keys(c.lowRank).length > 0) out.low_rank = { ...c.lowRank };
  if (c.architecture === 'LlamaForCausalLM') {
    out.attention_bias = c.oBias;
    out.mlp_bias = c.mlpBias;
  }
  if (c.architecture === 'MistralForCausalLM') out.sliding_window = c.slidingWindow;
  if (c.architecture === 'Qwen2ForCausalLM') {
    out.use_sliding_window = c.slidingWindow !== null;
    out.sliding_window = c.slidingWindow;
  }
  return out;
}
