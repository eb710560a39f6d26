import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { noGrad } from '../../src/engine/autograd.js';
import { tensor } from '../../src/engine/create.js';
import { loadDecoder } from '../../src/io/checkpoint.js';
import { contiguous, slice } from '../../src/ops/views.js';

const golden = (name: string) => fileURLToPath(new URL(`../../../test/golden/models/${name}`, import.meta.url));

interface GoldenLogits {
  input_ids: number[][];
  shape: number[];
  logits: number[];
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('decoder matches transformers logits', () => {
  for (const name of ['llama', 'qwen2', 'mistral']) {
    it(`${name}: full forward within 1e-4`, async () => {
      const ref = JSON.parse(readFileSync(`${golden(name)}/logits.json`, 'utf8')) as GoldenLogits;
      const model = await loadDecoder(golden(name));
      const logits = noGrad(() => model.forward(tensor(ref.input_ids, undefined, { dtype: 'i32' })));
      assert.deepEqual(logits.shape, ref.shape);
      const diff = maxAbsDiff(logits.toArray(), ref.logits);
      assert.ok(diff < 1e-4, `max abs diff ${diff}`);
    });
    it(`${name}: incremental decoding with a KV cache gives the same logits`, async () => {
      const ref = JSON.parse(readFileSync(`${golden(name)}/logits.json`, 'utf8')) as GoldenLogits;
      const model = await loadDecoder(golden(name));
      const ids = tensor(ref.input_ids, undefined, { dtype: 'i32' });
      const t = ids.shape[1];
      noGrad(() => {
        const cache = model.newCache();
        const first = model.forward(contiguous(slice(ids, 1, 0, 5)), cache);
        const steps = [first];
        for (let i = 5; i < t; i++) steps.push(model.forward(contiguous(slice(ids, 1, i, i + 1)), cache));
        const v = ref.shape[2];
        for (let b = 0; b < ids.shape[0]; b++) {
          for (let pos = 0; pos < t; pos++) {
            const chunk = pos < 5 ? steps[0] : steps[pos - 4];
            const local = pos < 5 ? pos : 0;
            const row = slice(slice(chunk, 0, b, b + 1), 1, local, local + 1).toArray();
            const expected = ref.logits.slice((b * t + pos) * v, (b * t + pos + 1) * v);
            const diff = maxAbsDiff(row, expected);
            assert.ok(diff < 1e-4, `batch ${b} position ${pos}: max abs diff ${diff}`);
          }
        }
      });
    });
  }
});
