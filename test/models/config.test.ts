import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigError, parseDecoderConfig, toHfConfig } from '../../src/models/llama/config.js';

const golden = (name: string) =>
  JSON.parse(
    readFileSync(fileURLToPath(new URL(`../../../test/golden/models/${name}/config.json`, import.meta.url)), 'utf8'),
  );

describe('config.json parsing', () => {
  it('reads the transformers 5.x form (dtype, rope_parameters)', () => {
    const c = parseDecoderConfig(golden('llama'));
    assert.equal(c.architecture, 'LlamaForCausalLM');
    assert.equal(c.headDim, 12);
    assert.equal(c.numKvHeads, 2);
    assert.equal(c.dtype, 'float32');
    assert.deepEqual(c.ropeScaling, {
      type: 'llama3',
      factor: 8,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositionEmbeddings: 16,
    });
  });
  it('reads the transformers 4.x form (torch_dtype, rope_theta, rope_scaling)', () => {
    const v4 = {
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      vocab_size: 100,
      hidden_size: 64,
      intermediate_size: 128,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      torch_dtype: 'bfloat16',
      rope_theta: 500000,
      rope_scaling: { type: 'linear', factor: 4 },
      tie_word_embeddings: true,
    };
    const c = parseDecoderConfig(v4);
    assert.equal(c.dtype, 'bfloat16');
    assert.equal(c.ropeTheta, 500000);
    assert.deepEqual(c.ropeScaling, { type: 'linear', factor: 4 });
    assert.equal(c.numKvHeads, 4);
    assert.equal(c.headDim, 16);
    assert.equal(c.tieWordEmbeddings, true);
  });
  it('switches on Qwen2 biases and Mistral windows', () => {
    const qwen = parseDecoderConfig(golden('qwen2'));
    assert.equal(qwen.qkvBias, true);
    assert.equal(qwen.slidingWindow, null);
    assert.equal(parseDecoderConfig(golden('mistral')).slidingWindow, 4);
  });
  it('round-trips through the 5.x form lithe writes', () => {
    for (const name of ['llama', 'qwen2', 'mistral']) {
      const c = parseDecoderConfig(golden(name));
      assert.deepEqual(parseDecoderConfig(toHfConfig(c)), c);
    }
  });
  it('names the field it cannot support', () => {
    const base = golden('llama');
    const cases: [Record<string, unknown>, string][] = [
      [{ ...base, architectures: ['GPT2LMHeadModel'] }, 'architectures'],
      [{ ...base, hidden_act: 'gelu' }, 'hidden_act'],
      [{ ...base, rope_parameters: { rope_type: 'yarn', rope_theta: 1e4 } }, 'rope_parameters'],
      [{ ...base, num_key_value_heads: 3 }, 'num_key_value_heads'],
      [{ ...base, hidden_size: 'big' }, 'hidden_size'],
      [{ ...base, dtype: 'int8' }, 'dtype'],
    ];
    for (const [raw, field] of cases) {
      assert.throws(
        () => parseDecoderConfig(raw, 'config.json'),
        (err: unknown) => err instanceof ConfigError && err.field === field && err.message.includes('config.json'),
        field,
      );
    }
  });
});
