import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  applyMask,
  InputStats,
  magnitudeScores,
  maskSparsity,
  nmMask,
  PruneError,
  sparsegptPrune,
  unstructuredMask,
  wandaScores,
} from '../../src/compress/prune/index.js';
import { randn } from '../../src/engine/create.js';
import { Rng } from '../../src/engine/rng.js';
import { fromFloat } from '../../src/engine/tensor.js';
import { add } from '../../src/ops/elementwise.js';
import { matmul } from '../../src/ops/matmul.js';

const rows = 32;
const cols = 64;
const tokens = 512;

/** Correlated calibration activations X: [tokens, cols] (low rank plus noise) with two large columns, as in LLMs. */
function activations(seed: number): Float32Array {
  const rng = new Rng(seed);
  const lowRank = matmul(randn([tokens, 12], { rng }), randn([12, cols], { rng }));
  const x = add(lowRank, randn([tokens, cols], { rng, std: 0.3 })).floatData() as Float32Array;
  for (let t = 0; t < tokens; t++) for (const j of [7, 30]) x[t * cols + j] *= 8;
  return x;
}

/** ‖W X − Ŵ X‖_F / ‖W X‖_F for w, pruned: [rows, cols] and x: [tokens, cols]. */
function outputError(w: Float32Array, pruned: Float32Array, x: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let r = 0; r < rows; r++) {
    for (let t = 0; t < tokens; t++) {
      let y = 0;
      let yHat = 0;
      for (let j = 0; j < cols; j++) {
        y += w[r * cols + j] * x[t * cols + j];
        yHat += pruned[r * cols + j] * x[t * cols + j];
      }
      num += (y - yHat) ** 2;
      den += y ** 2;
    }
  }
  return Math.sqrt(num / den);
}

/** W with a mask from the given scores applied (no weight update), and the mask. */
function masked(w: Float32Array, mask: Uint8Array): Float32Array {
  const t = fromFloat(Float32Array.from(w), [rows, cols]);
  applyMask(t, mask);
  return t.floatData() as Float32Array;
}

describe('sparsegptPrune', () => {
  const x = activations(11);
  const stats = new InputStats(cols, { hessian: true });
  stats.add(x);
  const h = stats.hessian();
  const w = randn([rows, cols], { rng: new Rng(12) }).floatData() as Float32Array;
  const wt = fromFloat(w, [rows, cols]);

  it('has a much lower layer output error than magnitude and Wanda masks at the same sparsity', () => {
    for (const [label, nm] of [
      ['50%', undefined],
      ['2:4', [2, 4]],
    ] as const) {
      const pruned = Float32Array.from(w);
      const { mask } = sparsegptPrune(pruned, h, { sparsity: 0.5, nm: nm && [nm[0], nm[1]], blockSize: 16 });
      const errSparseGpt = outputError(w, pruned, x);
      const scoreMask = (scores: typeof wt) => (nm ? nmMask(scores, 2, 4) : unstructuredMask(scores, 0.5));
      const errMagnitude = outputError(w, masked(w, scoreMask(magnitudeScores(wt))), x);
      const errWanda = outputError(w, masked(w, scoreMask(wandaScores(wt, stats.normsSq))), x);
      assert.ok(errSparseGpt < 0.6 * errWanda, `${label}: SparseGPT ${errSparseGpt} vs Wanda ${errWanda}`);
      assert.ok(errWanda < errMagnitude, `${label}: Wanda ${errWanda} vs magnitude ${errMagnitude}`);
      for (let i = 0; i < mask.length; i++) if (mask[i] === 0) assert.equal(pruned[i], 0);
      assert.ok(maskSparsity(mask) >= 0.5 && maskSparsity(mask) < 0.52, `${label}: sparsity ${maskSparsity(mask)}`);
    }
  });

  it('keeps an N:M pattern in every row', () => {
    for (const [n, m] of [
      [2, 4],
      [4, 8],
    ]) {
      const pruned = Float32Array.from(w);
      const { mask } = sparsegptPrune(pruned, h, { sparsity: 0, nm: [n, m], blockSize: 32 });
      for (let g = 0; g < (rows * cols) / m; g++) {
        const zeros = pruned.subarray(g * m, (g + 1) * m).filter((v) => v === 0).length;
        assert.equal(mask.subarray(g * m, (g + 1) * m).filter((k) => k === 0).length, n);
        assert.ok(zeros >= n, `group ${g}`);
      }
    }
  });

  it('leaves W unchanged at sparsity 0', () => {
    const pruned = Float32Array.from(w);
    const { mask } = sparsegptPrune(pruned, h, { sparsity: 0, blockSize: 16 });
    assert.ok(mask.every((k) => k === 1));
    assert.deepEqual(pruned, w);
  });

  it('zeros the weights of dead input columns and still factors H', () => {
    const xDead = Float32Array.from(x);
    for (let t = 0; t < tokens; t++) xDead[t * cols + 9] = 0;
    const deadStats = new InputStats(cols, { hessian: true });
    deadStats.add(xDead);
    const pruned = Float32Array.from(w);
    sparsegptPrune(pruned, deadStats.hessian(), { sparsity: 0.5 });
    for (let r = 0; r < rows; r++) assert.equal(pruned[r * cols + 9], 0);
    assert.ok(pruned.every(Number.isFinite));
    assert.ok(outputError(w, pruned, xDead) < 0.5);
  });

  it('rejects bad shapes and options', () => {
    assert.throws(() => sparsegptPrune(new Float32Array(10), new Float64Array(10), { sparsity: 0.5 }), PruneError);
    assert.throws(() => sparsegptPrune(new Float32Array(10), h, { sparsity: 0.5 }), PruneError);
    assert.throws(() => sparsegptPrune(Float32Array.from(w), h, { sparsity: 1 }), PruneError);
    assert.throws(
      () => sparsegptPrune(Float32Array.from(w), h, { sparsity: 0, nm: [2, 4], blockSize: 30 }),
      PruneError,
    );
    assert.throws(() => sparsegptPrune(Float32Array.from(w), h, { sparsity: 0, nm: [4, 4] }), PruneError);
  });
});
