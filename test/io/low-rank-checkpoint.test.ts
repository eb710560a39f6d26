import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { lowRankCompress } from '../../src/compress/lowrank/index.js';
import { loadDecoder, saveDecoder } from '../../src/io/checkpoint.js';
import { CheckpointError } from '../../src/io/errors.js';
import { ConfigError, parseDecoderConfig, toHfConfig } from '../../src/models/llama/config.js';
import { DecoderForCausalLM } from '../../src/models/llama/model.js';

const work = mkdtempSync(join(tmpdir(), 'lithe-lowrank-io-'));
after(() => rmSync(work, { recursive: true, force: true }));

const raw = {
  architectures: ['LlamaForCausalLM'],
  vocab_size: 40,
  hidden_size: 16,
  intermediate_size: 24,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  initializer_range: 0.3,
};

describe('factorised checkpoints', () => {
  it('parse, check and write config.json low_rank', () => {
    const lowRank = { 'model.layers.1.mlp.down_proj': 5, 'model.layers.0.self_attn.q_proj': 3 };
    const config = parseDecoderConfig({ ...raw, low_rank: lowRank });
    assert.deepEqual(config.lowRank, lowRank);
    assert.deepEqual(toHfConfig(config).low_rank, lowRank);
    assert.equal(toHfConfig(parseDecoderConfig(raw)).low_rank, undefined);
    for (const bad of [
      [],
      { 'model.layers.2.mlp.down_proj': 3 },
      { 'model.embed_tokens': 3 },
      { 'model.layers.0.mlp.up_proj': 0 },
      { 'model.layers.0.mlp.up_proj': 2.5 },
    ]) {
      assert.throws(() => parseDecoderConfig({ ...raw, low_rank: bad }), ConfigError, JSON.stringify(bad));
    }
  });

  it('round-trip through save and load with the same logits, in f32 exactly', async () => {
    const model = new DecoderForCausalLM(parseDecoderConfig(raw), { seed: 2 });
    await lowRankCompress(model, { method: 'welore', err: 0.5 });
    const dir = join(work, 'f32');
    await saveDecoder(model, dir, { dtype: 'f32' });
    const loaded = await loadDecoder(dir);
    const ids = [[1, 2, 3, 4, 5, 6]];
    assert.deepEqual(Array.from(loaded.forward(ids).floatData()), Array.from(model.forward(ids).floatData()));
    assert.deepEqual([...loaded.namedParameters().keys()], [...model.namedParameters().keys()]);
  });

  it('a rank the weights do not hold is a CheckpointError naming the tensor', async () => {
    const model = new DecoderForCausalLM(parseDecoderConfig(raw), { seed: 3 });
    await lowRankCompress(model, { method: 'svd', err: 0.5 });
    const dir = join(work, 'edited');
    await saveDecoder(model, dir, { dtype: 'f32' });
    const file = join(dir, 'config.json');
    const config = JSON.parse(readFileSync(file, 'utf8'));
    const [name] = Object.keys(config.low_rank);
    config.low_rank[name] += 1;
    writeFileSync(file, JSON.stringify(config));
    await assert.rejects(
      loadDecoder(dir),
      (err: Error) => err instanceof CheckpointError && err.message.includes(name),
    );
  });
});
