import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { zeros } from '../../src/engine/create.js';
import { OperationAbortedError } from '../../src/engine/errors.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { multipleChoice } from '../../src/eval/multiple-choice.js';
import { type CausalLM, perplexity } from '../../src/eval/perplexity.js';

const VOCAB = 8;

/** Uniform logits over VOCAB tokens (perplexity exactly VOCAB), counting its forward passes. */
class UniformLM implements CausalLM {
  forwards = 0;
  forward(ids: Tensor): Tensor {
    this.forwards++;
    return zeros([ids.shape[0], ids.shape[1], VOCAB]);
  }
}

const tokenizer = { encode: (text: string) => Int32Array.from(text, (c) => c.charCodeAt(0) % VOCAB), bosTokenId: 0 };

describe('async evaluation', () => {
  it('perplexity yields after each forward batch and stops there when aborted', async () => {
    const ids = new Int32Array(8 * 4);
    const model = new UniformLM();
    const result = await perplexity(model, ids, { seqlen: 4, batchSize: 2 });
    assert.ok(Math.abs(result.perplexity - VOCAB) < 1e-5);
    assert.equal(model.forwards, 4);

    const controller = new AbortController();
    const aborting = new UniformLM();
    const running = perplexity(aborting, ids, { seqlen: 4, batchSize: 2, signal: controller.signal });
    // Queued behind the first yield (after batch 1): runs once batch 2 is done; the yield after it stops the run.
    setImmediate(() => controller.abort());
    await assert.rejects(running, OperationAbortedError);
    assert.equal(aborting.forwards, 2);
    await assert.rejects(perplexity(model, ids, { seqlen: 4, signal: AbortSignal.abort() }), OperationAbortedError);
  });

  it('multipleChoice yields per item and stops there when aborted', async () => {
    const items = Array.from({ length: 3 }, () => ({ context: 'ab', choices: ['c', 'd'], answer: 0 }));
    const model = new UniformLM();
    const result = await multipleChoice(model, tokenizer, items);
    assert.equal(result.items, 3);
    assert.equal(model.forwards, 6);

    const controller = new AbortController();
    const aborting = new UniformLM();
    const running = multipleChoice(aborting, tokenizer, items, { signal: controller.signal });
    setImmediate(() => controller.abort());
    await assert.rejects(running, OperationAbortedError);
    assert.equal(aborting.forwards, 2 * 2, 'two items of two choices');
  });
});
