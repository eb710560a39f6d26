import type { Tensor } from '../engine/tensor.js';

/** What perplexity and causal-LM training need of a model: logits [B, T, V] for ids [B, T] (e.g. DecoderForCausalLM). */
export interface CausalLM {
  forward(ids: Tensor): Tensor;
}
