import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { noGrad } from '../../src/engine/autograd.js';
import { tensor } from '../../src/engine/create.js';
import { ShapeError } from '../../src/engine/errors.js';
import { parseDecoderConfig } from '../../src/models/llama/config.js';
import { DecoderForCausalLM } from '../../src/models/llama/model.js';

const config = parseDecoderConfig({
  architectures: ['LlamaForCausalLM'],
  vocab_size: 32,
  hidden_size: 16,
  intermediate_size: 24,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 64,
  dtype: 'float32',
});

describe('DecoderForCausalLM as a block sequence', () => {
  it("names its layers' Linears by input group: [q, k, v], [o], [gate, up], [down]", () => {
    const model = new DecoderForCausalLM(config, { seed: 3 });
    const blocks = model.blocks();
    assert.deepEqual(
      blocks.map((b) => b.name),
      ['model.layers.0', 'model.layers.1'],
    );
    const short = (name: string) => name.replace('model.layers.1.', '');
    assert.deepEqual(
      blocks[1].linearGroups.map((g) => g.map((l) => short(l.name))),
      [
        ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj'],
        ['self_attn.o_proj'],
        ['mlp.gate_proj', 'mlp.up_proj'],
        ['mlp.down_proj'],
      ],
    );
    const modules = model.namedModules();
    for (const group of blocks[1].linearGroups) for (const l of group) assert.equal(modules.get(l.name), l.linear);
    assert.equal(blocks[0].module, model.model.layers[0]);
  });

  it('embed then runBlock over every block, then head, gives the forward logits exactly', () => {
    const model = new DecoderForCausalLM(config, { seed: 3 });
    const ids = [
      [1, 5, 9, 2, 30, 4],
      [7, 7, 0, 3, 11, 19],
    ];
    const throughBlocks = (rows: number[][]) => {
      let h = model.embed(toIds(rows));
      for (let i = 0; i < model.blocks().length; i++) h = model.runBlock(i, h);
      return model.head(h).toArray();
    };
    noGrad(() => {
      assert.deepEqual(throughBlocks(ids), model.forward(ids).toArray());
      // A shorter sequence gets its own RoPE tables, and the longer one its own again.
      const short = [ids[0].slice(0, 3)];
      assert.deepEqual(throughBlocks(short), model.forward(short).toArray());
      assert.deepEqual(throughBlocks(ids), model.forward(ids).toArray());
    });
    assert.throws(() => model.runBlock(2, model.embed(toIds(ids))), ShapeError);
  });
});

function toIds(ids: number[][]) {
  return tensor(ids, undefined, { dtype: 'i32' });
}
