import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { noGrad } from '../../src/engine/autograd.js';
import { ones, randn, tensor } from '../../src/engine/create.js';
import { ShapeError } from '../../src/engine/errors.js';
import { Rng } from '../../src/engine/rng.js';
import { dropout } from '../../src/ops/dropout.js';
import { transpose } from '../../src/ops/views.js';
import { gradcheck, leaf } from '../helpers/gradcheck.js';

describe('dropout', () => {
  it('is deterministic for a seed', () => {
    const x = randn([50], { rng: new Rng(1) });
    const a = dropout(x, { p: 0.5, rng: new Rng(7) }).toArray();
    const b = dropout(x, { p: 0.5, rng: new Rng(7) }).toArray();
    const c = dropout(x, { p: 0.5, rng: new Rng(8) }).toArray();
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
  });

  it('zeros about p of the elements and scales the rest by 1/(1-p), preserving the mean', () => {
    const p = 0.3;
    const values = dropout(ones([20000], { dtype: 'f64' }), { p, rng: new Rng(2) }).toArray();
    const kept = values.filter((v) => v !== 0);
    for (const v of kept) assert.equal(v, 1 / (1 - p));
    assert.ok(
      Math.abs(1 - kept.length / values.length - p) < 0.02,
      `dropped fraction ${1 - kept.length / values.length}`,
    );
    const meanValue = values.reduce((s, v) => s + v, 0) / values.length;
    assert.ok(Math.abs(meanValue - 1) < 0.03, `mean ${meanValue}`);
  });

  it('the gradient is the same mask times 1/(1-p)', () => {
    const x = randn([4, 25], { dtype: 'f64', rng: new Rng(3) }).requiresGrad_();
    const out = dropout(x, { p: 0.6, rng: new Rng(4) });
    out.backward(ones([4, 25], { dtype: 'f64' }));
    const xs = x.toArray();
    const ys = out.toArray();
    const grad = x.grad?.toArray() ?? [];
    for (let i = 0; i < xs.length; i++) {
      const expected = ys[i] === 0 ? 0 : 2.5;
      assert.equal(grad[i], expected);
      assert.equal(ys[i], xs[i] * expected);
    }
    gradcheck((xl) => dropout(xl, { p: 0.4, rng: new Rng(5) }), [leaf([3, 7], 6)]);
  });

  it('masks a non-contiguous input in logical order', () => {
    const x = randn([3, 4], { dtype: 'f64', rng: new Rng(9) });
    const viaView = dropout(transpose(x), { rng: new Rng(10) }).toArray();
    const viaCopy = dropout(transpose(x).clone(), { rng: new Rng(10) }).toArray();
    assert.deepEqual(viaView, viaCopy);
    gradcheck((xl) => dropout(transpose(xl), { p: 0.5, rng: new Rng(11) }), [leaf([2, 5], 12)]);
  });

  it('is the identity in evaluation or with p = 0, and draws nothing from the generator', () => {
    const x = tensor([1, 2, 3]);
    const rng = new Rng(13);
    const state = rng.getState();
    assert.equal(dropout(x, { training: false, rng }), x);
    assert.equal(dropout(x, { p: 0, rng }), x);
    assert.deepEqual(rng.getState(), state);
  });

  it('records nothing under noGrad', () => {
    const x = randn([5], { dtype: 'f64', rng: new Rng(14) }).requiresGrad_();
    const out = noGrad(() => dropout(x, { rng: new Rng(15) }));
    assert.equal(out.requiresGrad, false);
  });

  it('rejects p outside [0, 1)', () => {
    const x = tensor([1, 2, 3]);
    for (const p of [-0.1, 1, 1.5, Number.NaN]) assert.throws(() => dropout(x, { p }), ShapeError);
  });
});
