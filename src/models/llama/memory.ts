import type { PruneMethod } from '../../compress/prune/pipeline.js';
import type { DecoderConfig } from './config.js';
import { expectedParameterShapes } from './model.js';

// Rough but conservative peak-memory estimates of the decoder's workloads, in bytes, for ensureFits: they count every
// f32 tensor DecoderForCausalLM's forward creates as if all were alive at once, and exclude the weights themselves
// (parameterBytes). Notation: B batch, T sequence length, N = B·T tokens, C hidden, H query heads, K = Hkv·D key/value
// width, Q = H·D query width, F MLP intermediate, V vocabulary, L layers, P parameters.

const F32 = 4;

/** Parameters of the decoder, from its config (exactly the tensors DecoderForCausalLM creates, factorised ones too). */
function parameterCount(config: DecoderConfig): number {
  let count = 0;
  for (const [, shape] of expectedParameterShapes(config)) count += shape.reduce((a, b) => a * b, 1);
  return count;
}

/** The weights held for compute: P × 4 (f32, whatever the checkpoint's storage dtype). */
export function parameterBytes(config: DecoderConfig): number {
  return parameterCount(config) * F32;
}

/**
 * Elements one decoder layer's forward creates, besides attention's own working set:
 * input norm [N, C]; q [N, Q] and its rotation; k [N, K] and its rotation; v [N, K]; attention output [B, H, T, D] and
 * its merge to [N, Q]; o_proj [N, C]; residual [N, C]; post-attention norm [N, C]; gate, silu(gate), up and their
 * product [N, F] each; down_proj [N, C]; residual [N, C]: N·(6C + 4Q + 3K + 4F).
 */
function layerElements(config: DecoderConfig, batch: number, seqlen: number): number {
  const { hiddenSize: c, intermediateSize: f, numHeads: h, numKvHeads: hkv, headDim: d } = config;
  return batch * seqlen * (6 * c + 4 * h * d + 3 * hkv * d + 4 * f);
}

/**
 * What the fused attention of one layer holds besides its output: the contiguous q, k and v it reads, N·(Q + 2K), and
 * each query row's log-sum-exp, B·H·T. It never holds [T, S] scores (its tiles are a few KB per thread), so this grows
 * linearly in T.
 */
function attentionElements(config: DecoderConfig, batch: number, seqlen: number): number {
  const { numHeads: h, numKvHeads: hkv, headDim: d } = config;
  return batch * seqlen * (h * d + 2 * hkv * d + h);
}

/**
 * Inference on ids [B, T] (eval, generate's prompt): 4 × (one layer at a time, N·(6C + 4Q + 3K + 4F) + N·(Q + 2K + H)
 * for its attention; embeddings and final norm 2·N·C; logits [N, V] and the per-token losses or probabilities read from
 * them, 2·N·V). Weights excluded.
 */
export function forwardBytes(config: DecoderConfig, batch: number, seqlen: number): number {
  const n = batch * seqlen;
  const layer = layerElements(config, batch, seqlen) + attentionElements(config, batch, seqlen);
  return F32 * (layer + 2 * n * config.hiddenSize + 2 * n * config.vocabSize);
}

/**
 * One training step on ids [B, T] with AdamW: the autograd tape keeps every layer's activations and what its attention
 * saved (q, k, v and the log-sum-exp; the backward recomputes the probabilities), L·N·(6C + 5Q + 5K + 4F + H), and the
 * backward holds one more layer's worth of gradients; embeddings and
 * final norm 2·N·C; logits [N, V] and their gradient, 2·N·V; the weights' gradients and AdamW's two moments, 3·P.
 * All × 4 bytes (f32). Weights excluded (parameterBytes).
 */
export function trainStepBytes(config: DecoderConfig, batch: number, seqlen: number): number {
  const n = batch * seqlen;
  const layer = layerElements(config, batch, seqlen) + attentionElements(config, batch, seqlen);
  const activations = (config.numLayers + 1) * layer + 2 * n * config.hiddenSize + 2 * n * config.vocabSize;
  return F32 * (activations + 3 * parameterCount(config));
}

export interface CalibrationMemoryOptions {
  /** Samples per forward, as pruneModel's batchSize; default 4. */
  batchSize?: number;
}

/**
 * Pruning with calibration (pruneModel): one block's inputs and outputs for all samples, nsamples × T × C × 4 × 2;
 * one forward batch through a block (see forwardBytes: one layer and its attention); for sparsegpt, the four input
 * groups' Hessians (q/k/v and gate/up share one; [C, C], [Q, Q], [C, C], [F, F]) at 12 bytes an entry (the f64 sum
 * plus an f32 batch term), and one more of the largest for the damped copy and inverse factor of the Linear being
 * pruned. Magnitude pruning reads no samples unless OWL allocates its sparsity, so it is counted as wanda.
 * Weights excluded.
 */
export function calibrationBytes(
  config: DecoderConfig,
  nsamples: number,
  seqlen: number,
  method: PruneMethod,
  options: CalibrationMemoryOptions = {},
): number {
  const { hiddenSize: c, intermediateSize: f, numHeads: h, headDim: d } = config;
  const batch = Math.min(options.batchSize ?? 4, nsamples);
  const blockIO = nsamples * seqlen * c * F32 * 2;
  const forward = F32 * (layerElements(config, batch, seqlen) + attentionElements(config, batch, seqlen));
  const widths = [c, h * d, c, f];
  const largest = Math.max(...widths);
  const hessians = method === 'sparsegpt' ? 12 * (widths.reduce((sum, w) => sum + w * w, 0) + largest * largest) : 0;
  return blockIO + forward + hessians;
}
