import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pruneModel } from '../../src/compress/prune/pipeline.js';
import { Tensor } from '../../src/engine/tensor.js';
import { loadDecoder, loadModel, saveDecoder } from '../../src/io/checkpoint.js';
import { CheckpointError } from '../../src/io/errors.js';
import { saveSafetensors } from '../../src/io/safetensors.js';
import { ConfigError } from '../../src/models/llama/config.js';
import type { DecoderForCausalLM } from '../../src/models/llama/model.js';
import { MODEL_FAMILIES, type ModelFamily, UnsupportedArchitectureError } from '../../src/models/registry.js';
import { Linear } from '../../src/nn/linear.js';
import { Module } from '../../src/nn/module.js';
import { stateDict } from '../../src/nn/state-dict.js';
import { dense } from '../helpers/dense-linear.js';

const golden = (name: string) => fileURLToPath(new URL(`../../../test/golden/models/${name}`, import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'lithe-load-model-'));
after(() => rmSync(work, { recursive: true, force: true }));
const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8'));

/** A family that is not a decoder: one Linear and a persistent running mean, as BatchNorm would keep. */
class Toy extends Module {
  readonly fc: Linear;
  readonly mean: Tensor;
  constructor(readonly config: { width: number }) {
    super();
    this.fc = this.addChild('fc', new Linear(config.width, 1, { init: false }));
    this.mean = this.addBuffer('mean', new Tensor(new Float32Array(config.width), [config.width], 'f32'));
    this.addBuffer('cache', new Tensor(new Float32Array(1), [1], 'f32'), { persistent: false });
  }
  forward(x: Tensor): Tensor {
    return this.fc.forward(x);
  }
}

const TOY_FAMILY: ModelFamily<{ width: number }, Toy> = {
  architectures: ['ToyRegressor'],
  parseConfig: (raw, file) => {
    if (typeof raw.width !== 'number') throw new ConfigError("missing required field 'width'", 'width', file);
    return { width: raw.width };
  },
  build: (config) => new Toy(config),
};

function saveToy(dir: string, tensors: Record<string, Tensor>): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ architectures: ['ToyRegressor'], width: 3 }));
  saveSafetensors(join(dir, 'model.safetensors'), new Map(Object.entries(tensors)));
  return dir;
}

const f32 = (values: number[], shape = [values.length]) => new Tensor(Float32Array.from(values), shape, 'f32');

describe('loadModel and the model registry', () => {
  it('a family is one registry entry: loadModel builds it and loads its parameters and persistent buffers', async () => {
    const dir = saveToy(join(work, 'toy'), { 'fc.weight': f32([1, 2, 3], [1, 3]), mean: f32([4, 5, 6]) });
    const loaded = await loadModel(dir, { families: [...MODEL_FAMILIES, TOY_FAMILY as ModelFamily] });
    assert.equal(loaded.architecture, 'ToyRegressor');
    assert.ok(loaded.model instanceof Toy);
    assert.deepEqual(loaded.model.fc.weight.toArray(), [1, 2, 3]);
    assert.deepEqual(loaded.model.mean.toArray(), [4, 5, 6]);
    assert.deepEqual([...stateDict(loaded.model).keys()], ['fc.weight', 'mean']);
  });

  it('names the unsupported architecture and the supported ones', async () => {
    const dir = join(work, 'toy');
    await assert.rejects(
      loadModel(dir),
      (err: unknown) =>
        err instanceof UnsupportedArchitectureError &&
        err instanceof ConfigError &&
        err.field === 'architectures' &&
        err.message.endsWith(
          "unsupported architecture 'ToyRegressor' (supported: LlamaForCausalLM, Qwen2ForCausalLM, MistralForCausalLM)",
        ),
    );
    await assert.rejects(loadDecoder(dir), UnsupportedArchitectureError);
  });

  it('a state the family does not hold is a CheckpointError naming the tensor, without a stateShapes table', async () => {
    const dir = saveToy(join(work, 'toy-bad'), { 'fc.weight': f32([1, 2], [1, 2]), mean: f32([4, 5, 6]) });
    await assert.rejects(
      loadModel(dir, { families: [TOY_FAMILY as ModelFamily] }),
      (err: unknown) =>
        err instanceof CheckpointError && err.tensor === 'fc.weight' && /has shape \[1,2\]/.test(err.message),
    );
  });

  it('loads the decoder family for each architecture, as loadDecoder', async () => {
    for (const name of ['llama', 'qwen2', 'mistral']) {
      const loaded = await loadModel(golden(name));
      const decoder = loaded.model as DecoderForCausalLM;
      assert.equal(loaded.architecture, decoder.config.architecture);
      const direct = await loadDecoder(golden(name));
      assert.deepEqual(
        [...decoder.namedParameters()].map(([n, t]) => [n, t.toArray()]),
        [...direct.namedParameters()].map(([n, t]) => [n, t.toArray()]),
      );
    }
  });
});

/** golden llama pruned by magnitude (optionally N:M or with skipped modules) and saved into dir. */
async function savePruned(dir: string, options: { nm?: [number, number]; skip?: string[] } = {}) {
  const model = await loadDecoder(golden('llama'));
  const result = await pruneModel(model, { method: 'magnitude', sparsity: options.nm ? undefined : 0.5, ...options });
  await saveDecoder(model, dir);
  return { model, result };
}

function editSparsity(dir: string, edit: (record: Record<string, unknown>) => void): void {
  const config = readJson(join(dir, 'config.json'));
  edit(config.sparsity);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
}

describe('sparsity record', () => {
  it('a pruned checkpoint records its sparsity in config.json; loading rebuilds exactly its masks', async () => {
    const dir = join(work, 'pruned');
    const { model, result } = await savePruned(dir, { skip: ['model.layers.0.mlp.*'] });
    const record = readJson(join(dir, 'config.json')).sparsity;
    assert.equal(record.method, 'magnitude');
    assert.equal(record.structure, 'unstructured');
    assert.equal(record.global_sparsity, result.achievedSparsity);
    assert.deepEqual(record.modules, Object.fromEntries(result.modules.map((m) => [m.name, m.sparsity])));
    assert.deepEqual(record.dense, [
      'model.layers.0.mlp.gate_proj',
      'model.layers.0.mlp.up_proj',
      'model.layers.0.mlp.down_proj',
    ]);
    const loaded = await loadDecoder(dir);
    const modules = loaded.namedModules();
    for (const pruned of result.modules) {
      const linear = modules.get(pruned.name) as Linear;
      assert.deepEqual(linear.mask?.toArray(), pruned.mask.toArray(), pruned.name);
    }
    for (const name of record.dense) assert.equal((modules.get(name) as Linear).mask, null, name);
    // Saved again (as after fine-tuning), the record is written unchanged.
    const again = join(work, 'pruned-again');
    await saveDecoder(loaded, again);
    assert.equal(readFileSync(join(again, 'config.json'), 'utf8'), readFileSync(join(dir, 'config.json'), 'utf8'));
    assert.equal(dense(model.model.layers[1].mlp.downProj).mask !== null, true);
  });

  it('N:M records n and m, and the pattern is checked on load', async () => {
    const dir = join(work, 'nm');
    await savePruned(dir, { nm: [2, 4] });
    const record = readJson(join(dir, 'config.json')).sparsity;
    assert.equal(record.structure, 'N:M');
    assert.deepEqual([record.n, record.m], [2, 4]);
    await loadDecoder(dir);
    editSparsity(dir, (r) => Object.assign(r, { n: 3, m: 6 }));
    await assert.rejects(
      loadDecoder(dir),
      (err: unknown) =>
        err instanceof CheckpointError && /does not follow the recorded 3:6 pattern: row 0/.test(err.message),
    );
  });

  it('a dense checkpoint has no sparsity entry', async () => {
    const dir = join(work, 'dense');
    await saveDecoder(await loadDecoder(golden('llama')), dir);
    assert.equal('sparsity' in readJson(join(dir, 'config.json')), false);
  });

  it('zeros that disagree with the record, or a record naming no Linear, are CheckpointErrors; a bad record a ConfigError', async () => {
    const dir = join(work, 'mismatch');
    await savePruned(dir);
    const name = 'model.layers.1.self_attn.q_proj';
    editSparsity(dir, (r) => {
      (r.modules as Record<string, number>)[name] = 0.25;
    });
    await assert.rejects(
      loadDecoder(dir),
      (err: unknown) =>
        err instanceof CheckpointError &&
        err.tensor === `${name}.weight` &&
        /holds \d+ zeros, but config.json's sparsity record says \d+ \(sparsity 0.25 of \d+\)/.test(err.message),
    );
    editSparsity(dir, (r) => {
      r.modules = { 'model.norm': 0.5 };
    });
    await assert.rejects(loadDecoder(dir), /lists 'model\.norm', which is not a Linear/);
    editSparsity(dir, (r) => {
      r.structure = 'blocks';
    });
    await assert.rejects(
      loadDecoder(dir),
      (err: unknown) =>
        err instanceof ConfigError && err.field === 'sparsity' && /structure "blocks"/.test(err.message),
    );
  });
});
