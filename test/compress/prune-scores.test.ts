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
    const scores = wandaScores(w, Float64Array.from([4, 1, 0]));
    assert.deepEqual(scores.shape, [2, 3]);
    assert.deepEqual(scores.toArray(), [2, 2, 0, 8, 5, 0]);
  });

  it('rejects input norms of the wrong length and non-matrices', () => {
    assert.throws(() => wandaScores(tensor([[1, 2]]), new Float64Array(3)), PruneError);
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
    assertClose(stats.normsSq, normsSq, 1e-12, 1e-12);
    assertClose(stats.hessian(), h, 1e-6, 1e-6);
  });

  it('skips the Hessian unless asked, and refuses bad batches', () => {
    const stats = new InputStats(cols);
    assert.throws(() => stats.hessian(), PruneError);
    assert.throws(() => stats.add(randn([4, cols + 1])), PruneError);
    assert.throws(() => stats.add(new Float32Array(cols + 1)), PruneError);
    assert.throws(() => new InputStats(cols, { hessian: true }).hessian(), PruneError);
  });
});
