import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { outlierRatio, owlSparsities, PruneError } from '../../src/compress/prune/index.js';
import { tensor } from '../../src/engine/create.js';

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('outlierRatio', () => {
  it('is the percentage of scores above m × the mean over all Linears together', () => {
    // mean = 2 over both: scores > 4 are 5 and 6, i.e. 2 of 8.
    const q = tensor([0, 1, 1, 6], [2, 2]);
    const v = Float32Array.from([0, 1, 2, 5]);
    assert.equal(outlierRatio([q, v], 2), 25);
    assert.equal(outlierRatio([q, v], 3), 0);
    assert.throws(() => outlierRatio([], 3), PruneError);
  });
});

describe('owlSparsities', () => {
  const ratios = [12.5, 3.1, 7.7, 20, 9.4, 5.5, 5.5, 14];

  it('averages exactly to the target, spans 2λ, and prunes blocks with more outliers less', () => {
    for (const [target, lambda] of [
      [0.7, 0.08],
      [0.5, 0.2],
      [0.6, 0.02],
    ]) {
      const s = owlSparsities(ratios, target, lambda);
      assert.ok(Math.abs(mean(s) - target) < 1e-12, `mean ${mean(s)} vs ${target}`);
      assert.ok(Math.abs(Math.max(...s) - Math.min(...s) - 2 * lambda) < 1e-12);
      // Within [S − 2λ, S + 2λ]; the doc's [S − λ, S + λ] holds only when the normalised ratios average λ.
      for (const x of s) assert.ok(x >= target - 2 * lambda - 1e-12 && x <= target + 2 * lambda + 1e-12);
      for (let i = 0; i < ratios.length; i++) {
        for (let j = 0; j < ratios.length; j++) if (ratios[i] > ratios[j]) assert.ok(s[i] < s[j]);
      }
      assert.equal(s[5], s[6]);
    }
  });

  it('stays within [S − λ, S + λ] when the ratios are spread symmetrically', () => {
    const s = owlSparsities([0, 1, 2, 3, 4], 0.7, 0.08);
    assert.ok(Math.abs(Math.min(...s) - 0.62) < 1e-12 && Math.abs(Math.max(...s) - 0.78) < 1e-12);
  });

  it('clamps a sparsity ≤ 0 to 0.01 and gives equal ratios the target', () => {
    assert.equal(owlSparsities([0, 10, 30], 0.05, 0.1)[2], 0.01);
    assert.deepEqual(owlSparsities([4, 4, 4], 0.6, 0.08), [0.6, 0.6, 0.6]);
  });

  it('refuses a λ that would push a block to sparsity 1 or more, naming the block and the largest usable λ', () => {
    assert.throws(
      () => owlSparsities([0, 1, 2, 3, 4], 0.5, 0.9),
      (err: Error) => err instanceof PruneError && /block 0 a sparsity of 1\.4000.*λ < 0\.5000/.test(err.message),
    );
    assert.ok(Math.max(...owlSparsities([0, 1, 2, 3, 4], 0.5, 0.4999)) < 1);
  });

  it('rejects bad arguments', () => {
    assert.throws(() => owlSparsities([], 0.5, 0.1), PruneError);
    assert.throws(() => owlSparsities([1, 2], 1.2, 0.1), PruneError);
    assert.throws(() => owlSparsities([1, 2], 0.5, -1), PruneError);
  });
});
