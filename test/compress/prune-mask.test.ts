import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyMask, maskSparsity, nmMask, PruneError, unstructuredMask } from '../../src/compress/prune/index.js';
import { randn, tensor } from '../../src/engine/create.js';
import { Rng } from '../../src/engine/rng.js';
import type { Tensor } from '../../src/engine/tensor.js';

/** A bool mask's entries (1 = keep), after checking that it is a bool tensor of the scores' shape. */
function keepArray(mask: Tensor, shape: readonly number[]): Uint8Array {
  assert.equal(mask.dtype, 'bool');
  assert.deepEqual(mask.shape, shape);
  return mask.dataSync() as Uint8Array;
}

/** Pruned entries per row of a [rows, cols] mask. */
function prunedPerRow(mask: Uint8Array, rows: number, cols: number): number[] {
  return Array.from({ length: rows }, (_, r) => mask.subarray(r * cols, (r + 1) * cols).filter((k) => k === 0).length);
}

describe('unstructuredMask', () => {
  const scores = randn([9, 50], { rng: new Rng(1) });
  const values = scores.toArray();

  it('prunes exactly ⌊in·s⌋ of every row, the lowest ones', () => {
    for (const s of [0, 0.1, 0.5, 0.37, 0.99]) {
      const mask = keepArray(unstructuredMask(scores, s), [9, 50]);
      assert.deepEqual(prunedPerRow(mask, 9, 50), new Array(9).fill(Math.floor(50 * s)));
      for (let r = 0; r < 9; r++) {
        let maxPruned = -Infinity;
        let minKept = Infinity;
        for (let j = 0; j < 50; j++) {
          const v = values[r * 50 + j];
          if (mask[r * 50 + j]) minKept = Math.min(minKept, v);
          else maxPruned = Math.max(maxPruned, v);
        }
        assert.ok(maxPruned <= minKept, `row ${r}`);
      }
    }
  });

  it('prunes exactly ⌊numel·s⌋ over the whole layer with group: layer', () => {
    const mask = keepArray(unstructuredMask(scores, 0.43, { group: 'layer' }), [9, 50]);
    assert.equal(mask.length - mask.reduce((a, b) => a + b, 0), Math.floor(450 * 0.43));
    const threshold = Math.max(...values.filter((_, i) => mask[i] === 0));
    assert.ok(values.every((v, i) => mask[i] === 0 || v >= threshold));
    assert.notDeepEqual(prunedPerRow(mask, 9, 50), new Array(9).fill(Math.floor(50 * 0.43)));
  });

  it('breaks ties deterministically: the lower index is pruned first', () => {
    const ties = tensor([
      [1, 1, 1, 1, 0, 2],
      [3, 3, 3, 3, 3, 3],
    ]);
    assert.deepEqual(unstructuredMask(ties, 0.5).toArray(), [0, 0, 1, 1, 0, 1, 0, 0, 0, 1, 1, 1]);
    assert.deepEqual(unstructuredMask(ties, 0.7, { group: 'layer' }).toArray(), [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1]);
  });

  it('selects over a large layer (by threshold) exactly the entries a stable argsort puts first', () => {
    const rng = new Rng(4);
    // 90000 scores (above the kernel's argsort size) on a coarse grid, so that the threshold has many ties.
    const big = tensor(
      Float32Array.from({ length: 300 * 300 }, () => Math.floor(rng.uniform() * 500)),
      [300, 300],
    );
    const vals = big.toArray();
    const count = Math.floor(vals.length * 0.37);
    const order = vals.map((_, i) => i).sort((a, b) => vals[a] - vals[b] || a - b);
    const want = new Array<number>(vals.length).fill(1);
    for (const i of order.slice(0, count)) want[i] = 0;
    assert.deepEqual(unstructuredMask(big, 0.37, { group: 'layer' }).toArray(), want);
  });

  it('prunes nothing over the layer when the count-th smallest score is NaN (no score is below it)', () => {
    const nan = tensor([[Number.NaN, 2, Number.NaN, 1]]);
    assert.deepEqual(unstructuredMask(nan, 0.75, { group: 'layer' }).toArray(), [1, 1, 1, 1]);
    assert.deepEqual(unstructuredMask(nan, 0.5, { group: 'layer' }).toArray(), [1, 0, 1, 0]);
  });

  it('rejects a sparsity outside [0, 1) and an unknown group', () => {
    assert.throws(() => unstructuredMask(scores, 1), PruneError);
    assert.throws(() => unstructuredMask(scores, -0.1), PruneError);
    assert.throws(() => unstructuredMask(scores, 0.5, { group: 'col' as 'row' }), PruneError);
  });
});

describe('nmMask', () => {
  it('prunes the n lowest of every m consecutive columns of each row', () => {
    const scores = randn([5, 24], { rng: new Rng(2) });
    const values = scores.toArray();
    for (const [n, m] of [
      [2, 4],
      [4, 8],
      [1, 3],
    ]) {
      const maskTensor = nmMask(scores, n, m);
      const mask = keepArray(maskTensor, [5, 24]);
      for (let g = 0; g < (5 * 24) / m; g++) {
        const group = Array.from(mask.subarray(g * m, (g + 1) * m));
        assert.equal(group.filter((k) => k === 0).length, n, `group ${g} of ${n}:${m}`);
        const kept = values.slice(g * m, (g + 1) * m).filter((_, i) => group[i] === 1);
        const pruned = values.slice(g * m, (g + 1) * m).filter((_, i) => group[i] === 0);
        assert.ok(Math.max(...pruned) <= Math.min(...kept));
      }
      assert.equal(maskSparsity(maskTensor), n / m);
    }
  });

  it('breaks ties toward the lower position', () => {
    assert.deepEqual(nmMask(tensor([[5, 5, 5, 5, 2, 7, 2, 2]]), 2, 4).toArray(), [0, 0, 1, 1, 0, 1, 0, 1]);
  });

  it('rejects patterns that do not fit', () => {
    const scores = randn([2, 12]);
    assert.throws(() => nmMask(scores, 4, 4), PruneError);
    assert.throws(() => nmMask(scores, 0, 4), PruneError);
    assert.throws(() => nmMask(scores, 2, 5), PruneError);
  });
});

describe('applyMask', () => {
  it('zeros the pruned weights in place, for f32 and half storage', () => {
    const mask = tensor([1, 0, 0, 1], [2, 2]).to('bool');
    const w = tensor([
      [1, 2],
      [3, 4],
    ]);
    applyMask(w, mask);
    assert.deepEqual(w.toArray(), [1, 0, 0, 4]);
    const half = tensor([1.5, -2, 3, 4], [2, 2]).to('bf16');
    applyMask(half, mask);
    assert.deepEqual(half.toArray(), [1.5, 0, 0, 4]);
  });

  it('rejects a mask of the wrong size', () => {
    assert.throws(() => applyMask(tensor([1, 2, 3]), tensor([1, 0]).to('bool')), PruneError);
  });
});
