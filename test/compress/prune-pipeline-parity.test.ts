import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type PruneOptions, pruneModel } from '../../src/compress/prune/index.js';
import { noGrad } from '../../src/engine/autograd.js';
import { loadDecoder } from '../../src/io/checkpoint.js';

// Made by tools/make_prune_golden.py with tools/prune_pipeline.py: a tiny random LLaMA, calibration ids, and
// per configuration OWL's block sparsities, the masks and the pruned model's logits on a probe batch.
const dir = fileURLToPath(new URL('../../../test/golden/prune-pipeline', import.meta.url));

interface GoldenConfig {
  options: Omit<PruneOptions, 'nm'> & { nm?: number[] };
  blocks: { outlierRatio: number | null; sparsity: number }[];
  modules: string[];
  achievedSparsity: number;
  /** Keep bits of all pruned Linears in module order, packed most significant bit first, base64. */
  masks: string;
  logits: number[];
}

const golden = JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8')) as {
  calibration: number[][];
  probe: number[][];
  configs: GoldenConfig[];
};

function unpackBits(base64: string, count: number): Uint8Array {
  const bytes = Buffer.from(base64, 'base64');
  const bits = new Uint8Array(count);
  for (let i = 0; i < count; i++) bits[i] = (bytes[i >> 3] >> (7 - (i & 7))) & 1;
  return bits;
}

function label({ options: o }: GoldenConfig): string {
  const pattern = o.nm ? `${o.nm[0]}:${o.nm[1]}` : String(o.sparsity);
  return `${o.method} ${pattern}${o.allocation === 'owl' ? ' owl' : ''}${o.magnitudeGroup ? ` per ${o.magnitudeGroup}` : ''}`;
}

describe('pruneModel against the independent PyTorch pipeline (tools/prune_pipeline.py)', () => {
  const calibration = golden.calibration.map((ids) => Int32Array.from(ids));
  for (const config of golden.configs) {
    it(`${label(config)}: same block sparsities, masks and pruned logits`, async () => {
      const model = await loadDecoder(dir);
      const { nm, ...options } = config.options;
      const result = await pruneModel(model, { calibration, ...options, nm: nm && [nm[0], nm[1]] });

      result.blocks.forEach((block, i) => {
        const expected = config.blocks[i];
        assert.ok(
          Math.abs(block.targetSparsity - expected.sparsity) <= 1e-6,
          `block ${i}: ${block.targetSparsity} vs ${expected.sparsity}`,
        );
        if (expected.outlierRatio === null) assert.equal(block.outlierRatio, null);
        else assert.ok(Math.abs((block.outlierRatio ?? Number.NaN) - expected.outlierRatio) <= 1e-9);
      });
      assert.deepEqual(
        result.modules.map((m) => m.name),
        config.modules,
      );
      const masks = new Uint8Array(result.modules.reduce((n, m) => n + m.mask.size, 0));
      let offset = 0;
      for (const m of result.modules) {
        masks.set(m.mask.dataSync(), offset);
        offset += m.mask.size;
      }
      const expected = unpackBits(config.masks, masks.length);
      let mismatches = 0;
      for (let i = 0; i < masks.length; i++) if (masks[i] !== expected[i]) mismatches++;
      assert.equal(mismatches, 0, `${mismatches} of ${masks.length} mask entries differ`);
      assert.ok(Math.abs(result.achievedSparsity - config.achievedSparsity) <= 1e-12);

      const logits = noGrad(() => model.forward(golden.probe)).floatData();
      assert.equal(logits.length, config.logits.length);
      let worst = 0;
      for (let i = 0; i < logits.length; i++) worst = Math.max(worst, Math.abs(logits[i] - config.logits[i]));
      assert.ok(worst <= 1e-5, `largest logit difference ${worst}`);
    });
  }
});
