import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type GenerateOptions, GenerationError, generate } from '../../src/models/generate.js';
import { parseDecoderConfig } from '../../src/models/llama/config.js';
import { DecoderForCausalLM } from '../../src/models/llama/model.js';

const model = new DecoderForCausalLM(
  parseDecoderConfig({
    architectures: ['LlamaForCausalLM'],
    vocab_size: 32,
    hidden_size: 8,
    intermediate_size: 16,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    num_key_value_heads: 1,
  }),
);
const prompt = Int32Array.of(1, 2, 3);

describe('generate options', () => {
  it('accepts the documented ranges', () => {
    assert.equal(generate(model, prompt, { maxNewTokens: 0 }).length, 0);
    assert.equal(generate(model, prompt, { maxNewTokens: 3, temperature: 0.7, topK: 0, topP: 1, seed: 5 }).length, 3);
    assert.equal(generate(model, prompt, { maxNewTokens: 2, temperature: 1, topK: 4, topP: 0.01 }).length, 2);
  });

  it('refuses anything else with a GenerationError naming the option, before computing anything', () => {
    const cases: [GenerateOptions, RegExp][] = [
      [{ maxNewTokens: -5 }, /^generate: maxNewTokens must be an integer >= 0, got -5$/],
      [{ maxNewTokens: 1.5 }, /maxNewTokens .* got 1\.5$/],
      [{ maxNewTokens: Number.NaN }, /maxNewTokens .* got NaN$/],
      [{ temperature: -0.1 }, /^generate: temperature must be a finite number >= 0 .*got -0\.1$/],
      [{ temperature: Number.NaN }, /temperature .* got NaN$/],
      [{ temperature: Number.POSITIVE_INFINITY }, /temperature .* got Infinity$/],
      [{ topK: -1 }, /^generate: topK must be an integer >= 0 .*got -1$/],
      [{ topK: 2.5 }, /topK .* got 2\.5$/],
      [{ topP: 0 }, /^generate: topP must be in \(0, 1\] .*got 0$/],
      [{ topP: 1.5 }, /topP .* got 1\.5$/],
      [{ topP: Number.NaN }, /topP .* got NaN$/],
      [{ seed: Number.NaN }, /seed .* got NaN$/],
      [{ stopTokenIds: [1, -2] }, /stopTokenIds must be integers >= 0, got -2$/],
    ];
    for (const [options, message] of cases) {
      let tokens = 0;
      assert.throws(
        () => generate(model, prompt, { ...options, onToken: () => tokens++ }),
        (err: unknown) => err instanceof GenerationError && message.test(err.message),
        JSON.stringify(options),
      );
      assert.equal(tokens, 0);
    }
  });

  it('refuses an empty prompt', () => {
    assert.throws(() => generate(model, new Int32Array(0)), GenerationError);
  });
});
