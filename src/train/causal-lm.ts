import type { Tensor } from '../engine/tensor.js';
import { crossEntropy } from '../ops/loss.js';
import type { Batch } from './batches.js';

/** A model that maps ids [B, T] to next-token logits [B, T, V], e.g. DecoderForCausalLM. */
export interface CausalLM {
  forward(ids: Tensor): Tensor;
}

/** train()'s loss for causal LM training: next-token cross entropy, averaged over every position. */
export function causalLmLoss(model: CausalLM, batch: Batch): Tensor {
  return crossEntropy(model.forward(batch.inputs), batch.targets);
}

/** The training tokens of a causal-LM batch (train()'s `tokens`, for tokens per second): B × T. */
export function causalLmTokens(batch: Batch): number {
  return batch.inputs.size;
}
