import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputStats, magnitudeScores, PruneError, wandaScores } from '../../src/compress/prune/index.js';
import { randn, tensor } from '../../src/engine/create.js';
import { Rng } from '../../src/engine/rng.js';
import { assertClose } from '../helpers/gradcheck.js';

describe('pruning scores', () => {
  it('magnitude is |W| and Wanda is |W_ij|·sqrt(Σ x_j²)', () => {
    const w = tensor([
      [1, -2, 3],
      [-4, 5, -6],
    ]);
    assert.deepEqual(magnitudeScores(w).toArray(), [1, 2, 3, 4, 5, 6]);
    const scores = wandaScores(w, tensor([4, 1, 0], [3], { dtype: 'f64' }));
    assert.deepEqual(scores.shape, [2, 3]);
    assert.equal(scores.dtype, 'f32');
    assert.deepEqual(scores.toArray(), [2, 2, 0, 8, 5, 0]);
  });

  it('rounds each Wanda score once from its f64 value', () => {
    const w = tensor([[0.1, -0.3, 0.7]]);
    const normsSq = tensor([2, 3, 5], [3], { dtype: 'f64' });
    const weights = w.toArray();
    const want = Float32Array.from(weights, (v, j) => Math.abs(v) * Math.sqrt([2, 3, 5][j]));
    assert.deepEqual(wandaScores(w, normsSq).toArray(), Array.from(want));
  });

  it('rejects input norms of the wrong length and non-matrices', () => {
    assert.throws(() => wandaScores(tensor([[1, 2]]), tensor([1, 2, 3], [3], { dtype: 'f64' })), PruneError);
    assert.throws(() => magnitudeScores(tensor([1, 2])), PruneError);
  });
});

describe('InputStats', () => {
  const cols = 7;
  const x = randn([40, cols], { rng: new Rng(3) });
  const xs = x.toArray();

  it('accumulates Σ x_j² and H = (2/n) Σ x xᵀ over batches, as one f64 pass would', () => {
    const stats = new InputStats(cols, { hessian: true });
    const data = x.floatData() as Float32Array;
    stats.add(data.subarray(0, 15 * cols)); // a raw batch of 15 tokens
    stats.add(tensor(Array.from(data.subarray(15 * cols)), [1, 25, cols])); // a [batch, seq, in] tensor
    assert.equal(stats.tokens, 40);
    const normsSq = new Float64Array(cols);
    const h = new Float64Array(cols * cols);
    for (let t = 0; t < 40; t++) {
      for (let i = 0; i < cols; i++) {
        normsSq[i] += xs[t * cols + i] ** 2;
        for (let j = 0; j < cols; j++) h[i * cols + j] += (2 / 40) * xs[t * cols + i] * xs[t * cols + j];
      }
    }
    assert.equal(stats.normsSq.dtype, 'f64');
    assertClose(stats.normsSq.floatData(), normsSq, 1e-12, 1e-12);
    assert.deepEqual(stats.hessian().shape, [cols, cols]);
    assertClose(stats.hessian().floatData(), h, 1e-6, 1e-6);
  });

  it('adds every x_j² onto the running f64 sums in token order, across batches', () => {
    const stats = new InputStats(cols);
    stats.add(x);
    stats.add(x);
    const normsSq = new Float64Array(cols);
    for (let pass = 0; pass < 2; pass++)
      for (let t = 0; t < 40; t++) for (let j = 0; j < cols; j++) normsSq[j] += xs[t * cols + j] * xs[t * cols + j];
    assert.deepEqual(Array.from(stats.normsSq.floatData()), Array.from(normsSq));
  });

  it('skips the Hessian unless asked, and refuses bad batches', () => {
    const stats = new InputStats(cols);
    assert.throws(() => stats.hessian(), PruneError);
    assert.throws(() => stats.add(randn([4, cols + 1])), PruneError);
    assert.throws(() => stats.add(new Float32Array(cols + 1)), PruneError);
    assert.throws(() => new InputStats(cols, { hessian: true }).hessian(), PruneError);
  });
});
