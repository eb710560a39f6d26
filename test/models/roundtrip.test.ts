import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadDecoder, saveDecoder } from '../../src/io/checkpoint.js';
import type { DecoderForCausalLM } from '../../src/models/llama/model.js';

const golden = (name: string) => fileURLToPath(new URL(`../../../test/golden/models/${name}`, import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'lithe-roundtrip-'));
after(() => rmSync(work, { recursive: true, force: true }));

function sameBits(a: DecoderForCausalLM, b: DecoderForCausalLM): void {
  const pa = a.namedParameters();
  const pb = b.namedParameters();
  assert.deepEqual([...pa.keys()], [...pb.keys()]);
  for (const [name, t] of pa) {
    const u = pb.get(name);
    assert.ok(u);
    assert.deepEqual(
      new Uint32Array(t.floatData().slice().buffer),
      new Uint32Array(u.floatData().slice().buffer),
      name,
    );
  }
}

describe('checkpoint round trip', () => {
  for (const name of ['llama', 'qwen2', 'mistral']) {
    it(`${name}: f32 save and reload is bit-identical`, async () => {
      const model = await loadDecoder(golden(name));
      const out = join(work, `${name}-f32`);
      await saveDecoder(model, out, { dtype: 'f32' });
      sameBits(model, await loadDecoder(out));
      // The f32 file lithe writes equals the one transformers wrote, byte for byte.
      assert.deepEqual(
        readFileSync(join(out, 'model.safetensors')),
        readFileSync(join(golden(name), 'model.safetensors')),
      );
    });
  }
  it('bf16 save, reload and save again is byte-identical', async () => {
    const model = await loadDecoder(golden('qwen2'));
    const first = join(work, 'bf16-a');
    const second = join(work, 'bf16-b');
    await saveDecoder(model, first, { dtype: 'bf16' });
    const reloaded = await loadDecoder(first);
    assert.equal(reloaded.config.dtype, 'bfloat16');
    await saveDecoder(reloaded, second);
    assert.deepEqual(readFileSync(join(first, 'model.safetensors')), readFileSync(join(second, 'model.safetensors')));
    sameBits(reloaded, await loadDecoder(second));
  });
  it('tied embeddings are saved once', async () => {
    const out = join(work, 'tied');
    await saveDecoder(await loadDecoder(golden('qwen2')), out);
    const header = readFileSync(join(out, 'model.safetensors'));
    assert.equal(header.includes('lm_head.weight'), false);
  });
});
