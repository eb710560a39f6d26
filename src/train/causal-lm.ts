import type { Tensor } from '../engine/tensor.js';
import type { CausalLM } from '../models/causal-lm.js';
import { crossEntropy } from '../ops/loss.js';
import type { Batch } from './batches.js';

/** train()'s loss for causal LM training: next-token cross entropy, averaged over the scored positions (SFT masks prompts). */
export function causalLmLoss(model: CausalLM, batch: Batch): Tensor {
  return crossEntropy(model.forward(batch.inputs), batch.targets);
}

/** The training tokens of a causal-LM batch (train()'s `tokens`, for tokens per second): B × T. */
export function causalLmTokens(batch: Batch): number {
  return batch.inputs.size;
}
