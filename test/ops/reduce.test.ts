import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tensor } from '../../src/engine/create.js';
import { ShapeError } from '../../src/engine/errors.js';
import { argmax, argmin, max, mean, min, norm, sum, variance } from '../../src/ops/reduce.js';
import { transpose } from '../../src/ops/views.js';
import { assertClose, gradcheck, leaf } from '../helpers/gradcheck.js';

describe('reductions', () => {
  const x = tensor([
    [
      [1, 2, 3],
      [4, 5, 6],
    ],
    [
      [7, 8, 9],
      [10, 11, 12],
    ],
  ]);
  it('sum and mean over any axes with keepdim', () => {
    assert.equal(sum(x).item(), 78);
    assert.deepEqual(sum(x, { axis: 0 }).toArray(), [8, 10, 12, 14, 16, 18]);
    assert.deepEqual(sum(x, { axis: [0, 2] }).toArray(), [30, 48]);
    assert.deepEqual(sum(x, { axis: 1, keepdim: true }).shape, [2, 1, 3]);
    assert.deepEqual(sum(x, { axis: -1 }).toArray(), [6, 15, 24, 33]);
    assert.deepEqual(mean(x, { axis: [1] }).toArray(), [2.5, 3.5, 4.5, 8.5, 9.5, 10.5]);
  });
  it('max, min, argmax, argmin', () => {
    assert.deepEqual(max(x, { axis: 1 }).toArray(), [4, 5, 6, 10, 11, 12]);
    assert.deepEqual(min(x, { axis: [0, 1] }).toArray(), [1, 2, 3]);
    assert.deepEqual(argmax(x, { axis: 2 }).toArray(), [2, 2, 2, 2]);
    assert.equal(argmax(x).item(), 11);
    assert.deepEqual(argmin(tensor([3, 1, 1, 5])).toArray(), [1]);
    assert.equal(argmax(x, { axis: 0 }).dtype, 'i32');
  });
  it('variance (unbiased by default) and norms', () => {
    const v = tensor([1, 2, 3, 4]);
    assertClose(variance(v).toArray(), [5 / 3]);
    assertClose(variance(v, { correction: 0 }).toArray(), [1.25]);
    assertClose(norm(v).toArray(), [Math.sqrt(30)]);
    assertClose(norm(v, { p: 1 }).toArray(), [10]);
    assertClose(norm(tensor([1, -7, 3]), { p: Number.POSITIVE_INFINITY }).toArray(), [7]);
  });
  it('rejects bad axes', () => {
    assert.throws(() => sum(x, { axis: 3 }), ShapeError);
    assert.throws(() => sum(x, { axis: [1, -2] }), ShapeError);
  });
  const axesCases: (number | number[] | undefined)[] = [undefined, 0, 1, -1, [0, 2], [1, 2]];
  for (const axis of axesCases) {
    it(`gradients over axis ${JSON.stringify(axis)}`, () => {
      gradcheck((t) => sum(t, { axis }), [leaf([2, 3, 5], 1)]);
      gradcheck((t) => mean(t, { axis, keepdim: true }), [leaf([2, 3, 5], 2)]);
      gradcheck((t) => max(t, { axis }), [leaf([2, 3, 5], 3)]);
      gradcheck((t) => min(t, { axis }), [leaf([2, 3, 5], 4)]);
      gradcheck((t) => variance(t, { axis }), [leaf([2, 3, 5], 5)]);
      gradcheck((t) => norm(t, { axis }), [leaf([2, 3, 5], 6)]);
    });
  }
  it('gradients on sizes 1 and non-contiguous views', () => {
    gradcheck((t) => sum(transpose(t), { axis: 0 }), [leaf([1, 7], 7)]);
    gradcheck((t) => variance(transpose(t, 0, 2), { axis: [0, 1] }), [leaf([3, 1, 4], 8)]);
    gradcheck((t) => norm(t, { p: 1, axis: 1 }), [leaf([3, 5], 9)]);
    gradcheck((t) => norm(t, { p: Number.POSITIVE_INFINITY, axis: 0 }), [leaf([3, 5], 10)]);
  });
});
