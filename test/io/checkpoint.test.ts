import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { OperationAbortedError } from '../../src/engine/errors.js';
import { loadDecoder, readDecoderConfig, saveDecoder } from '../../src/io/checkpoint.js';
import { CheckpointError } from '../../src/io/errors.js';
import { DecoderForCausalLM, expectedParameterShapes } from '../../src/models/llama/model.js';
import { dense } from '../helpers/dense-linear.js';

const golden = (name: string) => fileURLToPath(new URL(`../../../test/golden/models/${name}`, import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'lithe-checkpoint-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** A copy of a golden model directory with config.json fields overridden. */
function withConfig(name: string, overrides: Record<string, unknown>, dir: string): string {
  cpSync(golden(name), dir, { recursive: true });
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, ...overrides }));
  return dir;
}

describe('loadDecoder', () => {
  it('expectedParameterShapes names and shapes every parameter the model has, in order', () => {
    for (const name of ['llama', 'qwen2', 'mistral']) {
      const config = readDecoderConfig(golden(name));
      const model = new DecoderForCausalLM(config, { init: false });
      assert.deepEqual(
        [...expectedParameterShapes(config)],
        [...model.namedParameters()].map(([n, t]) => [n, [...t.shape]]),
        name,
      );
    }
  });

  it('fails fast, without building the model, on a config claiming 100000 layers', async () => {
    const dir = withConfig('llama', { num_hidden_layers: 100000 }, join(work, 'deep'));
    const rss = process.memoryUsage().rss;
    const start = performance.now();
    await assert.rejects(
      loadDecoder(dir),
      (err: unknown) =>
        err instanceof CheckpointError &&
        err.tensor === 'model.layers.2.self_attn.q_proj.weight' &&
        /missing from the checkpoint/.test(err.message),
    );
    // Building it would allocate about 3 GB of zeros (100000 blocks of ~8000 f32 weights).
    assert.ok(process.memoryUsage().rss - rss < 200 * 2 ** 20, 'memory grew');
    assert.ok(performance.now() - start < 2000, 'took too long');
  });

  it('names a tensor whose stored shape the config contradicts', async () => {
    const dir = withConfig('llama', { intermediate_size: 64 }, join(work, 'wide'));
    await assert.rejects(loadDecoder(dir), /'model\.layers\.0\.mlp\.gate_proj\.weight': has shape \[48,32\]/);
  });

  it('names a tensor holding NaN or Inf values, with their count', async () => {
    const model = await loadDecoder(golden('llama'));
    const down = dense(model.model.layers[0].mlp.downProj).weight;
    down.dataSync()[3] = Number.NaN;
    down.dataSync()[10] = Number.POSITIVE_INFINITY;
    down.dataSync()[11] = Number.NEGATIVE_INFINITY;
    const dir = join(work, 'nan');
    await saveDecoder(model, dir);
    await assert.rejects(
      loadDecoder(dir),
      (err: unknown) =>
        err instanceof CheckpointError &&
        err.message.endsWith('model.layers.0.mlp.down_proj.weight holds 3 NaN / Inf values'),
    );
  });

  it('stops between tensor reads when its signal is aborted', async () => {
    const before = new AbortController();
    before.abort();
    await assert.rejects(loadDecoder(golden('llama'), { signal: before.signal }), OperationAbortedError);

    const during = new AbortController();
    let loaded = 0;
    const onProgress = ({ done }: { done: number }) => {
      loaded = done;
      if (done === 3) during.abort();
    };
    await assert.rejects(loadDecoder(golden('llama'), { signal: during.signal, onProgress }), OperationAbortedError);
    assert.equal(loaded, 3);
  });
});
