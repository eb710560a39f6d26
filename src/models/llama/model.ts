import { tensor } from '../../engine/create.js';
import { ShapeError, UsageError } from '../../engine/errors.js';
import { Rng } from '../../engine/rng.js';
import type { Tensor } from '../../engine/tensor.js';
import { ModuleList } from '../../nn/containers.js';
import { Embedding } from '../../nn/embedding.js';
import { Linear } from '../../nn/linear.js';
import { type LinearLayer, LowRankLinear } from '../../nn/low-rank-linear.js';
import { Module } from '../../nn/module.js';
import { RMSNorm } from '../../nn/rmsnorm.js';
import { silu } from '../../ops/activations.js';
import { scaledDotProductAttention } from '../../ops/attention.js';
import { add as addResidual, mul } from '../../ops/elementwise.js';
import { concat } from '../../ops/join.js';
import { linear } from '../../ops/matmul.js';
import { applyRotary, ropeCosSin } from '../../ops/rope.js';
import { reshape, transpose } from '../../ops/views.js';
import type { BlockSequence, SequenceBlock } from '../blocks.js';
import type { DecoderConfig } from './config.js';

/** How new parameters are initialised: random from rng, or zeros when init is false. */
interface Init {
  rng: Rng;
  init: boolean;
}

/** RoPE tables for one forward: cos, sin: [T, headDim]. */
export interface Rope {
  cos: Tensor;
  sin: Tensor;
}

/** Keys and values seen so far, per layer: [B, Hkv, S, D] each. */
export class KVCache {
  readonly keys: (Tensor | null)[];
  readonly values: (Tensor | null)[];

  constructor(numLayers: number) {
    this.keys = new Array(numLayers).fill(null);
    this.values = new Array(numLayers).fill(null);
  }

  /** Number of positions cached. */
  get length(): number {
    return this.keys[0]?.shape[2] ?? 0;
  }

  /** Append new keys/values for a layer and return the full ones. */
  update(layer: number, k: Tensor, v: Tensor): [Tensor, Tensor] {
    const pk = this.keys[layer];
    const pv = this.values[layer];
    const fk = pk ? concat([pk, k], 2) : k;
    const fv = pv ? concat([pv, v], 2) : v;
    this.keys[layer] = fk;
    this.values[layer] = fv;
    return [fk, fv];
  }
}

/** Dimensions of one Linear: weight [outFeatures, inFeatures], and a bias [outFeatures] or none. */
interface LinearDims {
  inFeatures: number;
  outFeatures: number;
  bias: boolean;
}

/**
 * A block's Linears by submodule and HF name: the one table the modules are built from and
 * expectedParameterShapes reads, so a checkpoint is checked against exactly the shapes the model has.
 */
function blockLinearDims(config: DecoderConfig) {
  const { hiddenSize: c, numHeads: h, numKvHeads: hkv, headDim: d, intermediateSize: f } = config;
  const dims = (inFeatures: number, outFeatures: number, bias: boolean): LinearDims => ({
    inFeatures,
    outFeatures,
    bias,
  });
  return {
    self_attn: {
      q_proj: dims(c, h * d, config.qkvBias),
      k_proj: dims(c, hkv * d, config.qkvBias),
      v_proj: dims(c, hkv * d, config.qkvBias),
      o_proj: dims(h * d, c, config.oBias),
    },
    mlp: {
      gate_proj: dims(c, f, config.mlpBias),
      up_proj: dims(c, f, config.mlpBias),
      down_proj: dims(f, c, config.mlpBias),
    },
  };
}

/**
 * A block Linear of these dimensions, drawn with the config's initializer range (or zeros, to be loaded): factorised
 * at the rank config.lowRank gives its full name, dense otherwise.
 */
function newLinear(name: string, dims: LinearDims, config: DecoderConfig, init: Init): LinearLayer {
  const options = { bias: dims.bias, initStd: config.initializerRange, ...init };
  const rank = config.lowRank?.[name];
  return rank === undefined
    ? new Linear(dims.inFeatures, dims.outFeatures, options)
    : new LowRankLinear(dims.inFeatures, dims.outFeatures, rank, options);
}

/** The state tensors of a block Linear named `name`: its weight, or U and V at the rank config.lowRank gives. */
function* linearStateShapes(name: string, dims: LinearDims, config: DecoderConfig): Generator<[string, number[]]> {
  const { inFeatures, outFeatures, bias } = dims;
  const rank = config.lowRank?.[name];
  if (rank === undefined) {
    yield [`${name}.weight`, [outFeatures, inFeatures]];
    if (bias) yield [`${name}.bias`, [outFeatures]];
    return;
  }
  yield [`${name}.V.weight`, [rank, inFeatures]];
  yield [`${name}.U.weight`, [outFeatures, rank]];
  if (bias) yield [`${name}.U.bias`, [outFeatures]];
}

/**
 * Every parameter's HF name and shape, in the model's order, from the config alone (nothing allocated).
 * Lazy, so that checking a checkpoint against a config claiming absurdly many layers stops at the first
 * missing tensor; `new Map(expectedParameterShapes(config))` is the whole map.
 */
export function* expectedParameterShapes(config: DecoderConfig): Generator<[string, number[]]> {
  const { hiddenSize: c, vocabSize: v } = config;
  yield ['model.embed_tokens.weight', [v, c]];
  const blocks = Object.entries(blockLinearDims(config));
  for (let i = 0; i < config.numLayers; i++) {
    for (const [module, linears] of blocks) {
      for (const [name, dims] of Object.entries(linears)) {
        yield* linearStateShapes(`model.layers.${i}.${module}.${name}`, dims, config);
      }
    }
    yield [`model.layers.${i}.input_layernorm.weight`, [c]];
    yield [`model.layers.${i}.post_attention_layernorm.weight`, [c]];
  }
  yield ['model.norm.weight', [c]];
  if (!config.tieWordEmbeddings) yield ['lm_head.weight', [v, c]];
}

/** Multi-head self-attention with grouped-query heads and RoPE; HF names q/k/v/o_proj. */
export class Attention extends Module {
  constructor(
    readonly config: DecoderConfig,
    readonly layerIndex: number,
    init: Init,
  ) {
    super();
    const dims = blockLinearDims(config).self_attn;
    for (const [name, d] of Object.entries(dims)) {
      this.addChild(name, newLinear(`model.layers.${layerIndex}.self_attn.${name}`, d, config, init));
    }
  }

  // Read through child() so that a projection swapped for its factorised form (replaceModule) takes effect.
  get qProj(): LinearLayer {
    return this.child('q_proj');
  }
  get kProj(): LinearLayer {
    return this.child('k_proj');
  }
  get vProj(): LinearLayer {
    return this.child('v_proj');
  }
  get oProj(): LinearLayer {
    return this.child('o_proj');
  }

  // x: [B, T, C] -> [B, T, C]
  forward(x: Tensor, rope: Rope, cache?: KVCache): Tensor {
    const [b, t] = x.shape;
    const { numHeads: h, numKvHeads: hkv, headDim: d } = this.config;
    const heads = (y: Tensor, n: number) => transpose(reshape(y, [b, t, n, d]), 1, 2); // [B, n, T, D]
    const q = applyRotary(heads(this.qProj.forward(x), h), rope.cos, rope.sin);
    let k = applyRotary(heads(this.kProj.forward(x), hkv), rope.cos, rope.sin);
    let v = heads(this.vProj.forward(x), hkv);
    if (cache) [k, v] = cache.update(this.layerIndex, k, v);
    const attn = scaledDotProductAttention(q, k, v, {
      causal: true,
      slidingWindow: this.config.slidingWindow ?? undefined,
    });
    return this.oProj.forward(reshape(transpose(attn, 1, 2), [b, t, h * d]));
  }
}

/** SwiGLU feed-forward: down(silu(gate(x)) · up(x)). */
export class Mlp extends Module {
  constructor(config: DecoderConfig, layerIndex: number, init: Init) {
    super();
    const dims = blockLinearDims(config).mlp;
    for (const [name, d] of Object.entries(dims)) {
      this.addChild(name, newLinear(`model.layers.${layerIndex}.mlp.${name}`, d, config, init));
    }
  }

  get gateProj(): LinearLayer {
    return this.child('gate_proj');
  }
  get upProj(): LinearLayer {
    return this.child('up_proj');
  }
  get downProj(): LinearLayer {
    return this.child('down_proj');
  }

  forward(x: Tensor): Tensor {
    return this.downProj.forward(mul(silu(this.gateProj.forward(x)), this.upProj.forward(x)));
  }
}

/** One pre-norm transformer block: x + attn(norm(x)), then h + mlp(norm(h)). */
export class DecoderLayer extends Module {
  readonly selfAttn: Attention;
  readonly mlp: Mlp;
  readonly inputLayernorm: RMSNorm;
  readonly postAttentionLayernorm: RMSNorm;

  constructor(config: DecoderConfig, index: number, init: Init) {
    super();
    this.selfAttn = this.addChild('self_attn', new Attention(config, index, init));
    this.mlp = this.addChild('mlp', new Mlp(config, index, init));
    this.inputLayernorm = this.addChild('input_layernorm', new RMSNorm(config.hiddenSize, config.rmsNormEps));
    this.postAttentionLayernorm = this.addChild(
      'post_attention_layernorm',
      new RMSNorm(config.hiddenSize, config.rmsNormEps),
    );
  }

  // x: [B, T, C] -> [B, T, C]
  forward(x: Tensor, rope: Rope, cache?: KVCache): Tensor {
    const h = addResidual(x, this.selfAttn.forward(this.inputLayernorm.forward(x), rope, cache));
    return addResidual(h, this.mlp.forward(this.postAttentionLayernorm.forward(h)));
  }
}

/** The decoder body, HF's `model.*`: embed_tokens, layers.{i}, norm. */
export class DecoderBody extends Module {
  readonly embedTokens: Embedding;
  readonly layers: DecoderLayer[];
  readonly norm: RMSNorm;

  constructor(config: DecoderConfig, init: Init) {
    super();
    this.embedTokens = this.addChild(
      'embed_tokens',
      new Embedding(config.vocabSize, config.hiddenSize, { initStd: config.initializerRange, ...init }),
    );
    this.layers = [];
    const layers = this.addChild('layers', new ModuleList<DecoderLayer>());
    for (let i = 0; i < config.numLayers; i++) this.layers.push(layers.append(new DecoderLayer(config, i, init)));
    this.norm = this.addChild('norm', new RMSNorm(config.hiddenSize, config.rmsNormEps));
  }
}

export interface DecoderOptions {
  /** Seed for the random initialisation. */
  seed?: number;
  /** false: start from zeros, for weights about to be loaded (skips drawing random numbers). */
  init?: boolean;
}

/**
 * LlamaForCausalLM, Qwen2ForCausalLM and MistralForCausalLM: one decoder with config switches
 * (GQA, q/k/v biases, tied embeddings, sliding window, RoPE scaling).
 */
export class DecoderForCausalLM extends Module implements BlockSequence {
  readonly model: DecoderBody;
  /** runBlock's RoPE tables, kept for the last sequence length (a layer-wise pass runs every block at one length). */
  private blockRope: { length: number; rope: Rope } | null = null;

  constructor(
    readonly config: DecoderConfig,
    options: DecoderOptions = {},
  ) {
    super();
    const init: Init = { rng: new Rng(options.seed ?? 0), init: options.init ?? true };
    this.model = this.addChild('model', new DecoderBody(config, init));
    if (!config.tieWordEmbeddings) {
      const head = new Linear(config.hiddenSize, config.vocabSize, { initStd: config.initializerRange, ...init });
      this.addChild('lm_head', head);
    }
  }

  /** The output projection [V, C]: lm_head (read through child(), so a replaced one is seen), or the tied embedding. */
  get headWeight(): Tensor {
    if (this.config.tieWordEmbeddings) return this.model.embedTokens.weight;
    const head = this.child<Module>('lm_head');
    if (!(head instanceof Linear)) throw new UsageError('lm_head must stay a dense Linear (it was replaced)');
    return head.weight;
  }

  /** RoPE tables for positions start .. start+length-1. */
  rope(start: number, length: number): Rope {
    const positions = Array.from({ length }, (_, i) => start + i);
    return ropeCosSin(positions, this.config.headDim, {
      theta: this.config.ropeTheta,
      scaling: this.config.ropeScaling,
    });
  }

  /** ids: i32 [B, T] (or nested arrays) -> hidden states [B, T, C] before the final norm. */
  embed(ids: Tensor): Tensor {
    return this.model.embedTokens.forward(ids);
  }

  /** Final norm and LM head: h [B, T, C] -> logits [B, T, V]. */
  head(h: Tensor): Tensor {
    return linear(this.model.norm.forward(h), this.headWeight);
  }

  /**
   * Logits for ids [B, T]. With a cache, the ids continue the cached positions and their keys
   * and values are appended to it (incremental decoding).
   */
  forward(ids: Tensor | number[][], cache?: KVCache): Tensor {
    const idsT = Array.isArray(ids) ? tensor(ids, undefined, { dtype: 'i32' }) : ids;
    if (idsT.rank !== 2) throw new ShapeError(`decoder input ids must be [B, T], got [${idsT.shape}]`);
    const start = cache?.length ?? 0;
    const t = idsT.shape[1];
    const rope = this.rope(start, t);
    let h = this.embed(idsT);
    for (const layer of this.model.layers) h = layer.forward(h, rope, cache);
    return this.head(h);
  }

  /**
   * The decoder layers as blocks, their Linears grouped by shared input: [q, k, v], [o], [gate, up], [down]. A
   * factorised or quantised projection is a UsageError: the block-wise methods score and update dense weights.
   */
  blocks(): SequenceBlock[] {
    const names = new Map<Module, string>();
    for (const [name, module] of this.namedModules()) names.set(module, name);
    const named = (layer: LinearLayer) => {
      const name = names.get(layer) as string;
      if (layer instanceof LowRankLinear) {
        throw new UsageError(
          `${name} is factorised (rank ${layer.rank}); block-wise methods need dense Linears (merge it first: lithe lowrank --merge)`,
        );
      }
      if (!(layer instanceof Linear))
        throw new UsageError(`${name} holds a quantised weight; block-wise methods need dense Linears`);
      return { name, linear: layer };
    };
    return this.model.layers.map((layer) => {
      const { selfAttn: a, mlp } = layer;
      const groups = [[a.qProj, a.kProj, a.vProj], [a.oProj], [mlp.gateProj, mlp.upProj], [mlp.downProj]];
      return { name: names.get(layer) as string, module: layer, linearGroups: groups.map((g) => g.map(named)) };
    });
  }

  /** Layer `index` on hidden states x: [B, T, C] at positions 0 .. T-1 -> [B, T, C]. */
  runBlock(index: number, x: Tensor): Tensor {
    const layer = this.model.layers[index];
    if (!layer) throw new ShapeError(`no decoder layer ${index} (the model has ${this.model.layers.length})`);
    const length = x.shape[1];
    if (this.blockRope?.length !== length) this.blockRope = { length, rope: this.rope(0, length) };
    return layer.forward(x, this.blockRope.rope);
  }

  newCache(): KVCache {
    return new KVCache(this.config.numLayers);
  }
}
