import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tensor, zeros } from '../../src/engine/create.js';
import { clipGradNorm } from '../../src/train/clip.js';
import { OptimizerError } from '../../src/train/optim/optimizer.js';
import { loadGolden } from './optim-helpers.js';

function withGrad(values: number[]) {
  const p = zeros([values.length], { requiresGrad: true });
  p.grad = tensor(values);
  return p;
}

describe('clipGradNorm', () => {
  it('returns the global norm and scales every gradient by maxNorm / (norm + 1e-6) when it is exceeded', () => {
    const a = withGrad([3]);
    const b = withGrad([0, 4]);
    const none = zeros([2], { requiresGrad: true });
    assert.equal(clipGradNorm([a, b, none], 1), 5);
    const coef = Math.fround(1 / Math.fround(5 + Math.fround(1e-6)));
    assert.deepEqual(a.grad?.toArray(), [Math.fround(3 * coef)]);
    assert.deepEqual(b.grad?.toArray(), [0, Math.fround(4 * coef)]);
    assert.equal(none.grad, null);
  });
  it('leaves gradients alone when the norm is within maxNorm', () => {
    const a = withGrad([0.3, -0.4]);
    assert.equal(clipGradNorm([a], 1), Math.fround(0.5));
    assert.deepEqual(a.grad?.toArray(), [Math.fround(0.3), Math.fround(-0.4)]);
  });
  it("matches torch's norms bit for bit (squares summed in f32 as its kernel does)", () => {
    const golden = loadGolden();
    golden.grads.forEach((grads, step) => {
      const params = grads.flatMap((g) => (g ? [withGrad(g)] : []));
      assert.equal(clipGradNorm(params, golden.maxNorm), Math.fround(golden.runs.adamw.totalNorm[step]));
    });
  });
  it('returns 0 without gradients, and can refuse a non-finite norm', () => {
    assert.equal(clipGradNorm([zeros([2], { requiresGrad: true })], 1), 0);
    assert.throws(() => clipGradNorm([withGrad([1, Number.NaN])], 1, { errorIfNonfinite: true }), OptimizerError);
    const inf = withGrad([1, Number.POSITIVE_INFINITY]);
    assert.equal(clipGradNorm([inf], 1), Number.POSITIVE_INFINITY);
    assert.ok(Number.isNaN(inf.grad?.toArray()[1]));
  });
});
