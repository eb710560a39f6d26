import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  applyMask,
  InputStats,
  magnitudeScores,
  maskSparsity,
  nmMask,
  PruneError,
  type SparseGptOptions,
  sparsegptPrune,
  unstructuredMask,
  wandaScores,
} from '../../src/compress/prune/index.js';
import { randn } from '../../src/engine/create.js';
import { Rng } from '../../src/engine/rng.js';
import { fromFloat, type Tensor } from '../../src/engine/tensor.js';
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
function masked(w: Float32Array, mask: Tensor): Float32Array {
  const t = fromFloat(Float32Array.from(w), [rows, cols]);
  applyMask(t, mask);
  return t.floatData() as Float32Array;
}

/** sparsegptPrune on a [rows, cols] copy of w: the updated weights and the mask as host arrays, and the mask tensor. */
function prune(w: Float32Array, h: Tensor, options: SparseGptOptions) {
  const input = fromFloat(Float32Array.from(w), [rows, cols]);
  const { weight, mask } = sparsegptPrune(input, h, options);
  assert.deepEqual(input.floatData(), w, 'the input weights are left as they were');
  assert.equal(weight.dtype, 'f32');
  assert.equal(mask.dtype, 'bool');
  assert.deepEqual(mask.shape, [rows, cols]);
  return { pruned: weight.floatData() as Float32Array, keep: mask.dataSync() as Uint8Array, mask };
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
      const { pruned, keep, mask } = prune(w, h, { sparsity: 0.5, nm: nm && [nm[0], nm[1]], blockSize: 16 });
      const errSparseGpt = outputError(w, pruned, x);
      const scoreMask = (scores: typeof wt) => (nm ? nmMask(scores, 2, 4) : unstructuredMask(scores, 0.5));
      const errMagnitude = outputError(w, masked(w, scoreMask(magnitudeScores(wt))), x);
      const errWanda = outputError(w, masked(w, scoreMask(wandaScores(wt, stats.normsSq))), x);
      assert.ok(errSparseGpt < 0.6 * errWanda, `${label}: SparseGPT ${errSparseGpt} vs Wanda ${errWanda}`);
      assert.ok(errWanda < errMagnitude, `${label}: Wanda ${errWanda} vs magnitude ${errMagnitude}`);
      for (let i = 0; i < keep.length; i++) if (keep[i] === 0) assert.equal(pruned[i], 0);
      assert.ok(maskSparsity(mask) >= 0.5 && maskSparsity(mask) < 0.52, `${label}: sparsity ${maskSparsity(mask)}`);
    }
  });

  it('keeps an N:M pattern in every row', () => {
    for (const [n, m] of [
      [2, 4],
      [4, 8],
    ]) {
      const { pruned, keep } = prune(w, h, { sparsity: 0, nm: [n, m], blockSize: 32 });
      for (let g = 0; g < (rows * cols) / m; g++) {
        const zeros = pruned.subarray(g * m, (g + 1) * m).filter((v) => v === 0).length;
        assert.equal(keep.subarray(g * m, (g + 1) * m).filter((k) => k === 0).length, n);
        assert.ok(zeros >= n, `group ${g}`);
      }
    }
  });

  it('leaves W unchanged at sparsity 0', () => {
    const { pruned, keep } = prune(w, h, { sparsity: 0, blockSize: 16 });
    assert.ok(keep.every((k) => k === 1));
    assert.deepEqual(pruned, w);
  });

  it('zeros the weights of dead input columns and still factors H', () => {
    const xDead = Float32Array.from(x);
    for (let t = 0; t < tokens; t++) xDead[t * cols + 9] = 0;
    const deadStats = new InputStats(cols, { hessian: true });
    deadStats.add(xDead);
    const { pruned } = prune(w, deadStats.hessian(), { sparsity: 0.5 });
    for (let r = 0; r < rows; r++) assert.equal(pruned[r * cols + 9], 0);
    assert.ok(pruned.every(Number.isFinite));
    assert.ok(outputError(w, pruned, xDead) < 0.5);
  });

  it('rejects bad shapes and options', () => {
    const f64 = (n: number, shape: number[]) => fromFloat(new Float64Array(n), shape);
    assert.throws(() => sparsegptPrune(wt, f64(10, [10]), { sparsity: 0.5 }), PruneError);
    assert.throws(() => sparsegptPrune(wt, f64(10, [2, 5]), { sparsity: 0.5 }), PruneError);
    assert.throws(() => sparsegptPrune(fromFloat(new Float32Array(10), [1, 10]), h, { sparsity: 0.5 }), PruneError);
    assert.throws(() => sparsegptPrune(wt, h, { sparsity: 1 }), PruneError);
    assert.throws(() => sparsegptPrune(wt, h, { sparsity: 0, nm: [2, 4], blockSize: 30 }), PruneError);
    assert.throws(() => sparsegptPrune(wt, h, { sparsity: 0, nm: [4, 4] }), PruneError);
  });
});
