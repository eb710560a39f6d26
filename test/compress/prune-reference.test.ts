import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  InputStats,
  magnitudeScores,
  nmMask,
  outlierRatio,
  owlSparsities,
  sparsegptPrune,
  unstructuredMask,
  wandaScores,
} from '../../src/compress/prune/index.js';
import { fromFloat, type Tensor } from '../../src/engine/tensor.js';
import { assertClose } from '../helpers/gradcheck.js';

/** test/golden/prune/reference.json, written by tools/prune_reference.py (PyTorch, float64). */
interface GoldenCase {
  rows: number;
  cols: number;
  tokens: number;
  w: number[];
  xScale: number;
  xInt: number[];
  normsSq: number[];
  /** "magnitude|wanda" + "/row|layer/<s>" or "/<n>:<m>" → mask as a string of 0/1 (1 = keep). */
  masks: Record<string, string>;
  sparsegpt: { sparsity: number; nm: [number, number] | null; blockSize: number; weights: number[]; mask: string }[];
  outlierRatio: Record<string, number>;
}

interface Golden {
  cases: Record<string, GoldenCase>;
  owl: { ratios: number[]; target: number; lambda: number; sparsities: number[] }[];
}

const golden: Golden = JSON.parse(
  readFileSync(new URL('../../../test/golden/prune/reference.json', import.meta.url), 'utf8'),
);

const maskString = (mask: Tensor): string => mask.toArray().join('');

for (const [name, c] of Object.entries(golden.cases)) {
  describe(`pruning reference case ${name} (W [${c.rows}, ${c.cols}], ${c.tokens} tokens)`, () => {
    const w = fromFloat(Float32Array.from(c.w), [c.rows, c.cols]);
    const x = Float32Array.from(c.xInt, (v) => v * c.xScale);
    const stats = new InputStats(c.cols, { hessian: true });
    stats.add(x);

    it('accumulates the same input norms', () => {
      assertClose(stats.normsSq.floatData(), c.normsSq, 0, 0);
    });

    it('reproduces every magnitude and Wanda mask exactly', () => {
      const scores: Record<string, Tensor> = {
        magnitude: magnitudeScores(w),
        wanda: wandaScores(w, stats.normsSq),
      };
      for (const [key, expected] of Object.entries(c.masks)) {
        const [method, kind, s] = key.split('/');
        const mask = kind.includes(':')
          ? nmMask(scores[method], ...(kind.split(':').map(Number) as [number, number]))
          : unstructuredMask(scores[method], Number(s), { group: kind as 'row' | 'layer' });
        assert.equal(maskString(mask), expected, key);
      }
    });

    it('reproduces SparseGPT masks exactly and its weights to f32 accuracy', () => {
      const h = stats.hessian();
      for (const run of c.sparsegpt) {
        const label = `${run.nm ? run.nm.join(':') : run.sparsity} block ${run.blockSize}`;
        const { weight, mask } = sparsegptPrune(w, h, {
          sparsity: run.sparsity,
          nm: run.nm ?? undefined,
          blockSize: run.blockSize,
        });
        assert.equal(maskString(mask), run.mask, label);
        const scale = Math.max(...run.weights.map(Math.abs));
        assertClose(weight.floatData(), run.weights, 2e-6 * scale, 0); // measured: ≤ 3.3e-7 · scale
      }
    });

    it('computes the same OWL outlier ratios', () => {
      const scores = [wandaScores(w, stats.normsSq), magnitudeScores(w)];
      for (const [m, expected] of Object.entries(c.outlierRatio)) {
        assert.ok(Math.abs(outlierRatio(scores, Number(m)) - expected) < 1e-9, `M = ${m}`);
      }
    });
  });
}

describe('OWL sparsities against the reference', () => {
  it('match numpy to 1e-12', () => {
    for (const { ratios, target, lambda, sparsities } of golden.owl) {
      assertClose(owlSparsities(ratios, target, lambda), sparsities, 1e-12, 0);
    }
  });
});
