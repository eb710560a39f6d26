import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../src/engine/rng.js';
import { Tensor } from '../../src/engine/tensor.js';
import { type GenerateOptions, GenerationError, generate, sampleToken } from '../../src/models/generate.js';
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

/** transformers' temperature → top-k → top-p warpers and multinomial draw, written out on host numbers. */
function referenceSample(logits: Float32Array, options: GenerateOptions, rng: Rng): number {
  const temperature = options.temperature ?? 0;
  const v = logits.length;
  if (temperature <= 0) {
    let best = 0;
    for (let i = 1; i < v; i++) if (logits[i] > logits[best]) best = i;
    return best;
  }
  const order = Array.from({ length: v }, (_, i) => i).sort((a, b) => logits[b] - logits[a] || a - b);
  const kept = order.slice(0, options.topK ? Math.min(options.topK, v) : v);
  const weights = kept.map((i) => Math.exp((logits[i] - logits[kept[0]]) / temperature));
  const total = weights.reduce((s, w) => s + w, 0);
  let n = kept.length;
  let cumulative = 0;
  for (let i = 0; i < kept.length && (options.topP ?? 1) < 1; i++) {
    cumulative += weights[i] / total;
    if (cumulative >= (options.topP ?? 1)) {
      n = i + 1;
      break;
    }
  }
  let r = rng.uniform() * weights.slice(0, n).reduce((s, w) => s + w, 0);
  for (let i = 0; i < n; i++) {
    r -= weights[i];
    if (r <= 0) return kept[i];
  }
  return kept[n - 1];
}

describe('sampleToken', () => {
  it('draws what the warpers written out on the host draw, with the same random numbers, ties by id', () => {
    const data = new Rng(3);
    // Coarse logits, so that many are equal and the tie order matters.
    const logits = Float32Array.from({ length: 300 }, () => Math.round(data.normal() * 4) / 2);
    const row = new Tensor(logits, [300], 'f32');
    const settings: GenerateOptions[] = [
      {},
      { temperature: 0.7 },
      { temperature: 1.5, topK: 7 },
      { temperature: 1, topP: 0.6 },
      { temperature: 0.4, topK: 40, topP: 0.9 },
      { temperature: 2, topK: 300, topP: 0.3 },
    ];
    for (const options of settings) {
      const ours = new Rng(11);
      const theirs = new Rng(11);
      const got = Array.from({ length: 40 }, () => sampleToken(row, options, ours));
      const want = Array.from({ length: 40 }, () => referenceSample(logits, options, theirs));
      assert.deepEqual(got, want, JSON.stringify(options));
      assert.equal(ours.uniform(), theirs.uniform(), 'as many draws');
    }
  });
});
