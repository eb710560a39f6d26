import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type PruneMethod,
  parseRecipe,
  pruneModel,
  RecipeError,
  type RecipeOptions,
  recipeFromOptions,
  recipeSkipList,
  recipeToPruneOptions,
} from '../../src/compress/prune/index.js';
import { LitheError } from '../../src/engine/errors.js';
import { parseDecoderConfig } from '../../src/models/llama/config.js';
import { DecoderForCausalLM } from '../../src/models/llama/model.js';

/** A tiny 12-block decoder: blocks 1, 10 and 11 share the prefix 'model.layers.1'. */
function tinyModel(): DecoderForCausalLM {
  const config = parseDecoderConfig({
    architectures: ['LlamaForCausalLM'],
    vocab_size: 32,
    hidden_size: 8,
    intermediate_size: 16,
    num_hidden_layers: 12,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    max_position_embeddings: 16,
  });
  return new DecoderForCausalLM(config, { seed: 0 });
}

const names = [...tinyModel().namedModules().keys()];
const PROJ = ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj'].concat(
  ['gate_proj', 'up_proj', 'down_proj'].map((p) => `mlp.${p}`),
);
const blockLinears = names.filter((n) => PROJ.some((p) => n.endsWith(`.${p}`)));
const linearsOf = (...blocks: number[]) => blockLinears.filter((n) => blocks.includes(Number(n.split('.')[2])));
const allBut = (kept: string[]) => blockLinears.filter((n) => !kept.includes(n));

/** Parse a recipe and map it onto the tiny model. */
const optionsOf = (text: string) => recipeToPruneOptions(parseRecipe(text, 'recipe.yaml'), names);

/** The RecipeError message of parsing text (or of mapping it onto the model). */
function errorOf(text: string): string {
  try {
    optionsOf(text);
  } catch (e) {
    assert.ok(e instanceof RecipeError && e instanceof LitheError, String(e));
    return e.message;
  }
  assert.fail('expected a RecipeError');
}

describe('parseRecipe: llm-compressor recipes', () => {
  it("2:4 SparseGPT (llm-compressor's sparse_24.yaml)", () => {
    const options = optionsOf(`
pruning_stage:
    obcq_modifiers:
        SparseGPTModifier:
            sparsity: 0.5
            mask_structure: "2:4"
            targets: ["Linear"]
            ignore: ["re:.*lm_head"]
`);
    assert.deepEqual(options, {
      method: 'sparsegpt',
      sparsity: 0.5,
      nm: [2, 4],
      allocation: 'uniform',
      skip: [],
      warnings: [],
    });
  });

  it('50% Wanda with OWL over the decoder layers', () => {
    const options = optionsOf(`
sparsity_stage:
  sparsity_modifiers:
    WandaPruningModifier:
      sparsity: 0.5
      sparsity_profile: OWL
      owl_m: 7
      owl_lmbda: 0.05
      targets: ["re:model.layers.\\\\d+$"]
`);
    assert.deepEqual(options, {
      method: 'wanda',
      sparsity: 0.5,
      allocation: 'owl',
      owlM: 7,
      owlLambda: 0.05,
      skip: [],
      warnings: [],
    });
  });

  it("ignore by exact name and re:, OWL dropped by N:M as llm-compressor's N:M ignores it", () => {
    const options = optionsOf(`
sparsity_stage:
  sparsity_modifiers:
    SparseGPTModifier:
      sparsity: 0.5
      mask_structure: "2:4"
      sparsity_profile: owl
      owl_m: 5
      owl_lmbda: 0.08
      targets: ["Linear"]
      ignore: ["lm_head", "re:.*mlp.down_proj"]
`);
    assert.equal(options.allocation, 'uniform');
    assert.deepEqual(options.nm, [2, 4]);
    assert.deepEqual(
      options.skip,
      blockLinears.filter((n) => n.endsWith('down_proj')),
    );
    assert.deepEqual(options.warnings, [
      'sparsity_stage.sparsity_modifiers.SparseGPTModifier: sparsity_profile owl has no effect with 2:4; pruning uniformly',
    ]);
  });

  it('decoder layers by exact name, with the fields that equal what lithe does (test_tiny2.yaml)', () => {
    const options = optionsOf(`
test_stage:
  obcq_modifiers:
    SparseGPTModifier:
      sparsity: 0.3
      block_size: 128
      dampening_frac: 0.01
      mask_structure: "0:0"
      offload_hessians: true
      sequential_update: true
      targets: ["model.layers.0", "model.layers.1"]
`);
    assert.equal(options.sparsity, 0.3);
    assert.equal(options.nm, undefined);
    assert.deepEqual(options.skip, allBut(linearsOf(0, 1)));
  });

  it('a recipe llm-compressor serialised (every field, ignore empty): lm_head is reported, not pruned', () => {
    const options = optionsOf(`
default_stage:
  default_modifiers:
    SparseGPTModifier:
      requires_calibration_data: true
      index: 0
      group: default
      sparsity: 0.5
      mask_structure: 0:0
      sequential_update: false
      targets: [Linear]
      ignore: []
      block_size: 128
      dampening_frac: 0.01
      preserve_sparsity_mask: false
      offload_hessians: false
`);
    assert.deepEqual(options.skip, []);
    assert.equal(options.warnings.length, 1);
    assert.match(options.warnings[0], /lithe never prunes lm_head/);
  });

  it('older layouts: top-level *_modifiers, stages:, lists of modifiers', () => {
    const wanda = 'WandaPruningModifier: {sparsity: 0.6, ignore: ["re:model.layers.0.", "re:.*lm_head"]}';
    const expected = optionsOf(`oneshot_stage:\n  pruning_modifiers:\n    ${wanda}\n`);
    assert.equal(expected.sparsity, 0.6);
    assert.deepEqual(expected.skip, linearsOf(0));
    for (const text of [
      `pruning_modifiers:\n  ${wanda}\n`,
      `stages:\n  oneshot:\n    pruning_modifiers:\n      ${wanda}\n`,
      `oneshot_stage:\n  pruning_modifiers:\n    - ${wanda}\n`,
      `modifiers:\n  - type: WandaPruningModifier\n    args: {sparsity: 0.6, ignore: ["re:model.layers.0.", "re:.*lm_head"]}\n`,
      `{"oneshot_stage": {"pruning_modifiers": {"WandaPruningModifier": {"sparsity": 0.6, "ignore": ["re:model.layers.0.", "re:.*lm_head"]}}}}`,
    ]) {
      assert.deepEqual(optionsOf(text), expected, text);
    }
  });

  it('keys llm-compressor ignores are ignored, with a warning', () => {
    const { warnings } = optionsOf(`
version: 1
oneshot_stage:
  run_type: oneshot
  pruning_modifiers:
    WandaPruningModifier: {sparsity: 0.5, ignore: [lm_head]}
`);
    assert.deepEqual(warnings, [
      'version: ignored (not a *_stage or *_modifiers key)',
      'oneshot_stage.run_type: ignored (not a *_modifiers group)',
    ]);
  });

  it('N:M overrides a different sparsity, as in llm-compressor', () => {
    const options = optionsOf(
      's_stage:\n  g_modifiers:\n    WandaPruningModifier: {sparsity: 0.7, mask_structure: "4:8"}\n',
    );
    assert.equal(options.sparsity, 0.5);
    assert.deepEqual(options.nm, [4, 8]);
    assert.match(options.warnings[0], /sparsity 0.7 has no effect with 4:8, which prunes 0.5/);
  });

  it("one-shot MagnitudePruningModifier and lithe's LitheMagnitudePruningModifier", () => {
    const magnitude = optionsOf(`
s_stage:
  pruning_modifiers:
    MagnitudePruningModifier:
      init_sparsity: 0.4
      final_sparsity: 0.4
      targets: ["re:model.layers.\\\\d+.mlp.*_proj$"]
`);
    assert.equal(magnitude.method, 'magnitude');
    assert.equal(magnitude.magnitudeGroup, 'layer');
    assert.equal(magnitude.sparsity, 0.4);
    assert.deepEqual(
      magnitude.skip,
      blockLinears.filter((n) => n.includes('self_attn')),
    );
    const lithe = optionsOf('s_stage:\n  m_modifiers:\n    LitheMagnitudePruningModifier: {sparsity: 0.2}\n');
    assert.equal(lithe.magnitudeGroup, 'row');
    // A decoder-layer target names no Linear itself, so MagnitudePruningModifier prunes nothing there.
    assert.match(
      errorOf(
        's_stage:\n  p_modifiers:\n    MagnitudePruningModifier: {init_sparsity: 0.4, final_sparsity: 0.4, targets: ["re:model.layers.\\\\d+$"]}\n',
      ),
      /leave no block Linear to prune/,
    );
  });

  it('the options run pruneModel with the skip list', async () => {
    const model = tinyModel();
    const options = optionsOf(
      's_stage:\n  m_modifiers:\n    LitheMagnitudePruningModifier: {sparsity: 0.5, ignore: ["re:.*down_proj$"]}\n',
    );
    const result = await pruneModel(model, options);
    assert.deepEqual(
      result.skipped.map((m) => m.name),
      options.skip,
    );
    assert.equal(result.modules.length, blockLinears.length - 12);
  });
});

describe('parseRecipe: what lithe refuses', () => {
  const sgpt = (fields: string) => `s_stage:\n  p_modifiers:\n    SparseGPTModifier: {sparsity: 0.5, ${fields}}\n`;

  it('names an unsupported modifier', () => {
    for (const [type, fields] of [
      ['QuantizationModifier', '{scheme: W4A16, targets: [Linear]}'],
      ['GPTQModifier', '{scheme: W4A16}'],
      ['SmoothQuantModifier', '{smoothing_strength: 0.8}'],
      ['ConstantPruningModifier', '{targets: ["re:.*weight"]}'],
    ]) {
      const text = `s_stage:\n  m_modifiers:\n    SparseGPTModifier: {sparsity: 0.5}\n    ${type}: ${fields}\n`;
      assert.equal(
        errorOf(text),
        `recipe: recipe.yaml: ${type} is not supported by lithe (supported: SparseGPTModifier, WandaPruningModifier)`,
      );
    }
  });

  it('refuses two pruning modifiers, and none', () => {
    assert.equal(
      errorOf(`
a_stage:
  p_modifiers:
    SparseGPTModifier: {sparsity: 0.5}
b_stage:
  p_modifiers:
    WandaPruningModifier: {sparsity: 0.5}
`),
      'recipe: recipe.yaml: 2 pruning modifiers (a_stage.p_modifiers.SparseGPTModifier, ' +
        'b_stage.p_modifiers.WandaPruningModifier): lithe applies one per run',
    );
    assert.match(errorOf('a_stage:\n  run_type: oneshot\n'), /no pruning modifier/);
    assert.match(errorOf('- 1\n- 2\n'), /a recipe is a mapping of stages/);
  });

  it('reports bad YAML by line:column without echoing the text', () => {
    const message = errorOf('s_stage:\n  p_modifiers:\n    SparseGPTModifier:\n   sparsity: 0.5\u0007\u001b[31m\n');
    assert.match(message, /^recipe: recipe\.yaml:\d+:\d+: /);
    assert.doesNotMatch(message, /\p{Cc}|sparsity/u);
    assert.match(errorOf('a: 1\na: 2\n'), /^recipe: recipe\.yaml:2:1: Map keys must be unique$/);
    assert.match(errorOf('s_stage: !!python/tuple [1]\n'), /^recipe: recipe\.yaml:1:10: Unresolved tag/);
  });

  it('escapes control characters of names it echoes', () => {
    const message = errorOf('s_stage:\n  m_modifiers:\n    "Bad\\u0007Modifier": {}\n');
    assert.match(message, /Bad\\u0007Modifier is not supported/);
    assert.ok(!message.includes('\u0007'));
  });

  it('names unknown fields and fields asking for what lithe does not do', () => {
    const at = 'recipe: recipe.yaml: s_stage.p_modifiers.SparseGPTModifier:';
    assert.equal(errorOf(sgpt('sparsty: 0.5')), `${at} unknown field 'sparsty'`);
    assert.equal(
      errorOf(sgpt('block_size: 64')),
      `${at} block_size: 64 is not supported (lithe's SparseGPT prunes 128 columns per block)`,
    );
    assert.match(errorOf(sgpt('dampening_frac: 0.1')), /dampening_frac: 0.1 is not supported/);
    assert.match(errorOf(sgpt('preserve_sparsity_mask: true')), /preserve_sparsity_mask: true is not supported/);
    assert.match(
      errorOf(sgpt('sequential_targets: [LlamaAttention]')),
      /sequential_targets: lithe runs block by block/,
    );
    assert.match(errorOf(sgpt('start: 0')), /start: training schedules are not supported/);
    assert.match(
      errorOf(sgpt('sparsity_profile: owl, owl_m: 5')),
      /give all of sparsity_profile: owl, owl_m and owl_lmbda/,
    );
    assert.match(errorOf(sgpt('sparsity_profile: magic')), /sparsity_profile must be 'owl' or null/);
    assert.match(errorOf(sgpt('mask_structure: "4:2"')), /mask_structure must be '0:0'/);
    assert.match(errorOf(sgpt('mask_structure: 24')), /mask_structure must be a string, got 24/);
    assert.match(errorOf('s_stage:\n  p_modifiers:\n    WandaPruningModifier: {sparsity: [0.5, 0.4]}\n'), /per-layer/);
    assert.match(errorOf('s_stage:\n  p_modifiers:\n    WandaPruningModifier: {}\n'), /sparsity is required/);
    assert.match(errorOf('s_stage:\n  p_modifiers:\n    WandaPruningModifier: {sparsity: 1}\n'), /\[0, 1\)/);
    assert.match(
      errorOf('s_stage:\n  p_modifiers:\n    WandaPruningModifier: {sparsity: 0.5, block_size: 128}\n'),
      /unknown field 'block_size'/,
    );
    assert.match(
      errorOf(
        's_stage:\n  p_modifiers:\n    MagnitudePruningModifier: {init_sparsity: 0.1, final_sparsity: 0.5, targets: [Linear]}\n',
      ),
      /a gradual schedule \(init_sparsity 0.1 → final_sparsity 0.5\) is not supported/,
    );
  });

  it('refuses a recipe that leaves nothing to prune', () => {
    assert.match(errorOf(sgpt('ignore: [Linear]')), /leave no block Linear to prune/);
    assert.match(errorOf(sgpt('targets: [lm_head]')), /leave no block Linear to prune/);
  });
});

describe('recipe targets and ignore: llm-compressor matching', () => {
  const skipOf = (targets: string[], ignore: string[] = []) =>
    recipeSkipList(
      parseRecipe(
        `s_stage:\n  p_modifiers:\n    WandaPruningModifier: ${JSON.stringify({ sparsity: 0.5, targets, ignore })}\n`,
      ),
      names,
    );

  it("re: is Python's re.match: anchored at the start, not at the end", () => {
    assert.deepEqual(skipOf(['re:model.layers.1']), allBut(linearsOf(1, 10, 11)));
    assert.deepEqual(skipOf(['re:model.layers.1$']), allBut(linearsOf(1)));
    assert.deepEqual(skipOf(['re:model\\.layers\\.1\\.']), allBut(linearsOf(1)));
    // Not anchored at the start would match every block; re.match does not search.
    assert.deepEqual(skipOf(['Linear'], ['re:layers.1', 're:mlp']), []);
    assert.deepEqual(skipOf(['Linear'], ['re:.*layers.1.']), linearsOf(1, 10, 11)); // '.' is any character
    assert.deepEqual(skipOf(['Linear'], ['re:.*layers\\.1\\.']), linearsOf(1));
    // An alternation stays anchored as a whole.
    assert.deepEqual(skipOf(['re:model.layers.0.|model.layers.2.']), allBut(linearsOf(0, 2)));
  });

  it('plain names match exactly, and class names by the kind of module', () => {
    assert.deepEqual(skipOf(['model.layers.3']), allBut(linearsOf(3)));
    assert.deepEqual(skipOf(['Linear'], ['down_proj']), []); // not a suffix match
    assert.deepEqual(skipOf(['Linear'], ['model.layers.3.mlp.down_proj']), ['model.layers.3.mlp.down_proj']);
    assert.deepEqual(skipOf(['LlamaDecoderLayer']), []);
    // ignore is matched against each Linear's own name and class, so a container class ignores nothing.
    assert.deepEqual(skipOf(['LlamaDecoderLayer'], ['LlamaAttention']), []);
    assert.deepEqual(
      skipOf(['Qwen2MLP']),
      blockLinears.filter((n) => n.includes('self_attn')),
    );
  });

  it('converts Python-only regex syntax, and refuses what has no JS equivalent', () => {
    assert.deepEqual(skipOf(['Linear'], ['re:(?P<root>model)\\.layers\\.2\\.(?P<part>mlp)\\.']), linearsOf(2).slice(4));
    assert.deepEqual(skipOf(['Linear'], ['re:(?i)MODEL\\.LAYERS\\.2\\.MLP\\.DOWN_PROJ\\Z']), [
      'model.layers.2.mlp.down_proj',
    ]);
    assert.deepEqual(skipOf(['Linear'], ['re:\\Amodel.layers.(?P<n>2).mlp.(?P=n)?down']), [
      'model.layers.2.mlp.down_proj',
    ]);
    assert.throws(() => skipOf(['Linear'], ['re:(?x) model']), /inline flag 'x' is not supported/);
    assert.throws(() => skipOf(['Linear'], ['re:(']), /ignore: pattern 're:\(' is not a valid regular expression/);
  });

  it('reports patterns that match nothing, as llm-compressor does not refuse them', () => {
    const recipe = parseRecipe(
      's_stage:\n  p_modifiers:\n    WandaPruningModifier: {sparsity: 0.5, targets: [Linear, model.nope], ignore: [re:.*lm_head, embed]}\n',
    );
    assert.deepEqual(recipeToPruneOptions(recipe, names).warnings, [
      "s_stage.p_modifiers.WandaPruningModifier: targets 'model.nope' matches no module",
      "s_stage.p_modifiers.WandaPruningModifier: ignore 'embed' matches no targeted Linear",
    ]);
  });
});

describe('recipeFromOptions', () => {
  /** The module names a skip glob matches among the block Linears (pruneModel's glob semantics). */
  const globbed = (globs: readonly string[]) =>
    blockLinears.filter((n) =>
      globs.some((g) => new RegExp(`^${g.replace(/\./g, '\\.').replace(/\*/g, '.*').replace(/\?/g, '.')}$`).test(n)),
    );

  it('round-trips every option combination through parseRecipe', () => {
    const methods: PruneMethod[] = ['magnitude', 'wanda', 'sparsegpt'];
    const patterns: Pick<RecipeOptions, 'sparsity' | 'nm'>[] = [
      { sparsity: 0.5 },
      { sparsity: 0.35 },
      { nm: [2, 4] },
      { sparsity: 0.5, nm: [4, 8] },
    ];
    const allocations: Pick<RecipeOptions, 'allocation' | 'owlM' | 'owlLambda'>[] = [
      {},
      { allocation: 'uniform' },
      { allocation: 'owl' },
      { allocation: 'owl', owlM: 7, owlLambda: 0.1 },
    ];
    const skips = [[], ['model.layers.0.*', 'model.layers.*.mlp.down_proj', 'model.layers.1?.self_attn.?_proj']];
    let cases = 0;
    for (const method of methods) {
      for (const pattern of patterns) {
        for (const allocation of allocations) {
          if (pattern.nm && allocation.allocation === 'owl') continue;
          for (const skip of skips) {
            for (const magnitudeGroup of method === 'magnitude'
              ? ([undefined, 'row', 'layer'] as const)
              : [undefined]) {
              const options: RecipeOptions = { method, ...pattern, ...allocation, skip, magnitudeGroup };
              const text = recipeFromOptions(options);
              const back = recipeToPruneOptions(parseRecipe(text), names);
              const owl = allocation.allocation === 'owl';
              assert.deepEqual(
                back,
                {
                  method,
                  sparsity: pattern.nm ? pattern.nm[0] / pattern.nm[1] : pattern.sparsity,
                  ...(pattern.nm ? { nm: pattern.nm } : {}),
                  allocation: owl ? 'owl' : 'uniform',
                  ...(owl ? { owlM: allocation.owlM ?? 5, owlLambda: allocation.owlLambda ?? 0.08 } : {}),
                  ...(method === 'magnitude' ? { magnitudeGroup: magnitudeGroup ?? 'row' } : {}),
                  skip: globbed(skip),
                  warnings: [],
                },
                text,
              );
              cases++;
            }
          }
        }
      }
    }
    assert.equal(cases, 2 * (2 * 4 + 2 * 2) * (1 + 1 + 1 + 2));
  });

  it("writes llm-compressor's layout and field names", () => {
    const text = recipeFromOptions({ method: 'sparsegpt', nm: [2, 4], skip: ['model.layers.*.mlp.down_proj'] });
    assert.match(text, /^# lithe prune recipe/);
    assert.match(
      text,
      /\nsparsity_stage:\n {2}sparsity_modifiers:\n {4}SparseGPTModifier:\n {6}sparsity: 0.5\n {6}mask_structure: "2:4"\n {6}block_size: 128\n {6}dampening_frac: 0.01\n/,
    );
    assert.match(text, /targets:\n {8}- re:model\\\.layers\\\.\\d\+\$\n/);
    assert.match(text, /ignore:\n {8}- re:model\\\.layers\\\..\*\\\.mlp\\\.down_proj\$\n/);
  });

  it('refuses options pruneModel refuses', () => {
    assert.throws(() => recipeFromOptions({ method: 'wanda' }), /give a sparsity or an N:M pattern/);
    assert.throws(() => recipeFromOptions({ method: 'wanda', nm: [2, 4], sparsity: 0.6 }), /contradicts 2:4/);
    assert.throws(() => recipeFromOptions({ method: 'wanda', nm: [2, 4], allocation: 'owl' }), /uniform/);
    assert.throws(() => recipeFromOptions({ method: 'obs' as PruneMethod, sparsity: 0.5 }), /unknown method 'obs'/);
  });
});
