import type { Tensor } from '../engine/tensor.js';
import type { Linear } from '../nn/linear.js';
import type { Module } from '../nn/module.js';

/** A Linear and its full dotted name in the model, e.g. 'model.layers.3.mlp.down_proj'. */
export interface NamedLinear {
  name: string;
  linear: Linear;
}

/** One block of a block sequence: the module, and its Linears grouped by the input they read. */
export interface SequenceBlock {
  /** Full dotted name, e.g. 'model.layers.3'. */
  name: string;
  module: Module;
  /**
   * The block's Linears grouped by a shared input, in forward order (a decoder layer: [q, k, v], [o], [gate, up],
   * [down]): one input statistic per group serves all its Linears. Every Linear of the block is in one group.
   */
  linearGroups: readonly (readonly NamedLinear[])[];
}

/**
 * What layer-wise methods (sequential pruning, and WeLore, SNIP and EWC later) need from a model: the first block's
 * inputs from the model's inputs, the blocks in order, and a way to run one block alone. Whatever context a block's
 * forward needs besides its input (a decoder's RoPE tables for the sequence length) stays inside `runBlock`.
 * A decoder implements it with its layers (DecoderForCausalLM). A driving model does the same: embed = its sensor
 * encoders and token embedding, blocks = its transformer layers with their attention and MLP groups, runBlock = layer i
 * with its own context (positions, masks) kept inside. A CNN: embed = the stem (conv, norm, pool) on images
 * [B, 3, H, W]; blocks = its residual blocks, groups = [conv1], [conv2], [downsample] and the classifier's Linear in
 * the last block; runBlock = block i's forward. Its groups hold convolutions, so NamedLinear's `linear` would widen to
 * any module with a 2-D view of its weight (a conv's [out, in·kh·kw], the matrix its im2col GEMM multiplies).
 */
export interface BlockSequence {
  /** The blocks in forward order; the result describes the model as it is (names and Linears are stable). */
  blocks(): readonly SequenceBlock[];
  /** The first block's input for one batch of model inputs, e.g. ids i32 [B, T] -> hidden states [B, T, C]. */
  embed(inputs: Tensor): Tensor;
  /** Block `index` alone on its input (the previous block's output), e.g. [B, T, C] -> [B, T, C]. */
  runBlock(index: number, x: Tensor): Tensor;
}
