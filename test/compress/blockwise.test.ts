import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { forEachBlock, type InputCollector } from '../../src/compress/blockwise.js';
import { pruneModel } from '../../src/compress/prune/index.js';
import { noGrad } from '../../src/engine/autograd.js';
import { OperationAbortedError } from '../../src/engine/errors.js';
import type { Progress } from '../../src/engine/progress.js';
import { Tensor } from '../../src/engine/tensor.js';
import { loadDecoder } from '../../src/io/checkpoint.js';
import { Linear } from '../../src/nn/linear.js';

const modelDir = fileURLToPath(new URL('../../../test/golden/models/llama', import.meta.url));
const SEQLEN = 8;

/** Two batches of ids [2, SEQLEN] over the golden models' vocabulary of 64. */
const batches = [0, 1].map(
  (b) =>
    new Tensor(
      Int32Array.from({ length: 2 * SEQLEN }, (_, i) => (i * 13 + b * 7) % 64),
      [2, SEQLEN],
      'i32',
    ),
);

/** Keeps every input it is given. */
class Inputs implements InputCollector {
  readonly seen: number[][] = [];
  add(x: Tensor): void {
    this.seen.push(x.toArray());
  }
}

describe('forEachBlock', () => {
  it("gives each group's collector its first Linear's inputs, block by block, and removes the hooks", async () => {
    const model = await loadDecoder(modelDir);
    const blocks = model.blocks();
    const collected: { block: number; names: string[]; stats: Inputs | null }[] = [];
    const progress: Progress[] = [];
    await forEachBlock<Inputs>(model, {
      inputs: batches,
      collect: () => new Inputs(),
      act: ({ index, groups }) => {
        for (const g of groups) collected.push({ block: index, names: g.linears.map((l) => l.name), stats: g.stats });
      },
      changesBlock: false,
      phase: 'test',
      onProgress: (p) => progress.push(p),
    });
    assert.equal(collected.length, 4 * blocks.length);
    assert.deepEqual(
      progress.map((p) => [p.phase, p.done, p.total, p.unit]),
      blocks.map((_, i) => ['test', i + 1, blocks.length, 'block']),
    );
    // By hand: the input of block 1's o_proj is what o_proj sees when the dense model runs block 0, then block 1.
    const expected = noGrad(() =>
      batches.map((ids) => {
        let oInput: number[] = [];
        const hook = model.model.layers[1].selfAttn.oProj.registerForwardHook((_, inputs) => {
          oInput = (inputs[0] as Tensor).toArray();
        });
        const rope = model.rope(0, SEQLEN);
        model.model.layers[1].forward(model.model.layers[0].forward(model.embed(ids), rope), rope);
        hook.dispose();
        return oInput;
      }),
    );
    const oGroup = collected.find((c) => c.block === 1 && c.names[0] === 'model.layers.1.self_attn.o_proj');
    assert.deepEqual(oGroup?.stats?.seen, expected);
    for (const module of model.namedModules().values()) {
      if (module instanceof Linear) assert.equal(Object.hasOwn(module, 'forward'), false);
    }
  });

  it('without inputs it only acts, and an aborted signal stops it after the block', async () => {
    const model = await loadDecoder(modelDir);
    const controller = new AbortController();
    const acted: number[] = [];
    await assert.rejects(
      forEachBlock(model, {
        inputs: null,
        act: ({ index, groups }) => {
          assert.ok(groups.every((g) => g.stats === null));
          acted.push(index);
          controller.abort();
        },
        phase: 'test',
        signal: controller.signal,
      }),
      OperationAbortedError,
    );
    assert.deepEqual(acted, [0]);
  });
});

describe('pruneModel masks', () => {
  it('leaves each pruned Linear carrying its mask, and the skipped ones none', async () => {
    const model = await loadDecoder(modelDir);
    const calibration = batches.flatMap((b) =>
      [0, 1].map((r) => Int32Array.from(b.toArray().slice(r * SEQLEN, (r + 1) * SEQLEN))),
    );
    const result = await pruneModel(model, { calibration, method: 'wanda', sparsity: 0.5, skip: ['*.down_proj'] });
    const modules = model.namedModules();
    for (const m of result.modules) {
      const mask = (modules.get(m.name) as Linear).mask;
      assert.ok(mask);
      assert.equal(mask.dtype, 'bool');
      assert.deepEqual(mask.shape, m.shape);
      assert.equal(mask, m.mask, 'the result holds the Linear’s own mask');
    }
    assert.ok(result.skipped.length > 0);
    for (const s of result.skipped) assert.equal((modules.get(s.name) as Linear).mask, null);
  });
});
