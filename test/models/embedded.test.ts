import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { noGrad } from '../../src/engine/autograd.js';
import { Tensor } from '../../src/engine/tensor.js';
import { loadDecoder } from '../../src/io/checkpoint.js';
import { loadTokenizer } from '../../src/io/tokenizer.js';
import { EMBEDDED_MODEL_DIR } from '../../src/models/embedded.js';
import { crossEntropy } from '../../src/ops/loss.js';

interface EmbeddedGolden {
  prompt: string;
  ids: number[];
  last_top_ids: number[];
  last_top_logits: number[];
  mean_abs_logit: number;
  loss: number;
}

const golden = JSON.parse(
  readFileSync(new URL('../../../test/golden/embedded.json', import.meta.url), 'utf8'),
) as EmbeddedGolden;

describe('the embedded model (models/lithe-tiny)', () => {
  it('tokenizes and scores a prompt as transformers does with the same files', async () => {
    const tokenizer = loadTokenizer(EMBEDDED_MODEL_DIR);
    const ids = tokenizer.encode(golden.prompt);
    assert.deepEqual([...ids], golden.ids);
    const model = await loadDecoder(EMBEDDED_MODEL_DIR);
    const t = ids.length;
    const logits = noGrad(() => model.forward(new Tensor(ids, [1, t], 'i32'))); // [1, T, V]
    const data = logits.floatData();
    const vocab = logits.shape[2];
    const last = data.subarray((t - 1) * vocab, t * vocab);
    golden.last_top_ids.forEach((id, i) => {
      assert.ok(Math.abs(last[id] - golden.last_top_logits[i]) < 1e-3, `logit of ${id}`);
    });
    const order = [...last.keys()].sort((a, b) => last[b] - last[a]).slice(0, 3);
    assert.deepEqual(order, golden.last_top_ids.slice(0, 3));
    let meanAbs = 0;
    for (const v of data) meanAbs += Math.abs(v);
    meanAbs /= data.length;
    assert.ok(Math.abs(meanAbs - golden.mean_abs_logit) < 1e-4 * golden.mean_abs_logit);
    // Next-token loss over every position but the last, as transformers' labels shift does.
    const rows = new Tensor(data.slice(0, (t - 1) * vocab), [t - 1, vocab], 'f32');
    const loss = crossEntropy(rows, new Tensor(ids.slice(1), [t - 1], 'i32')).item();
    assert.ok(Math.abs(loss - golden.loss) < 1e-4, `loss ${loss} vs ${golden.loss}`);
  });
});
