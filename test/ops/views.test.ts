import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { arange, tensor } from '../../src/engine/create.js';
import { ShapeError } from '../../src/engine/errors.js';
import { mul } from '../../src/ops/elementwise.js';
import {
  contiguous,
  expand,
  flatten,
  permute,
  reshape,
  slice,
  squeeze,
  transpose,
  unsqueeze,
} from '../../src/ops/views.js';
import { gradcheck, leaf } from '../helpers/gradcheck.js';

describe('views', () => {
  const x = reshape(arange(24), [2, 3, 4]);
  it('reshape of a contiguous tensor shares storage', () => {
    const y = reshape(x, [6, -1]);
    assert.deepEqual(y.shape, [6, 4]);
    assert.equal(y.storage, x.storage);
    assert.throws(() => reshape(x, [5, -1]), ShapeError);
    assert.throws(() => reshape(x, [-1, -1]), ShapeError);
  });
  it('transpose and permute are strided views', () => {
    const t = transpose(x, 0, 2);
    assert.deepEqual(t.shape, [4, 3, 2]);
    assert.equal(t.storage, x.storage);
    assert.equal(t.isContiguous(), false);
    assert.deepEqual(t.toArray().slice(0, 4), [0, 12, 4, 16]);
    const p = permute(x, [1, 2, 0]);
    assert.deepEqual(p.shape, [3, 4, 2]);
    assert.deepEqual(contiguous(p).toArray().slice(0, 4), [0, 12, 1, 13]);
  });
  it('slice with negative bounds and steps', () => {
    const s = slice(arange(10), 0, -4, undefined, 2);
    assert.deepEqual(s.toArray(), [6, 8]);
    assert.deepEqual(slice(x, 1, 1, 3).shape, [2, 2, 4]);
    assert.deepEqual(slice(x, 2, 1, 2).toArray(), [1, 5, 9, 13, 17, 21]);
  });
  it('expand broadcasts without copying', () => {
    const e = expand(tensor([[1], [2]]), [3, 2, 4]);
    assert.deepEqual(e.shape, [3, 2, 4]);
    assert.deepEqual(e.strides, [0, 1, 0]);
    assert.deepEqual(e.toArray().slice(0, 8), [1, 1, 1, 1, 2, 2, 2, 2]);
    assert.throws(() => expand(tensor([1, 2]), [3]), ShapeError);
  });
  it('squeeze, unsqueeze, flatten', () => {
    assert.deepEqual(unsqueeze(x, -1).shape, [2, 3, 4, 1]);
    assert.deepEqual(squeeze(unsqueeze(x, 1)).shape, [2, 3, 4]);
    assert.deepEqual(flatten(x, 1).shape, [2, 12]);
  });
  it('reshape of a non-contiguous view copies', () => {
    const t = transpose(reshape(arange(6), [2, 3]));
    assert.deepEqual(reshape(t, [6]).toArray(), [0, 3, 1, 4, 2, 5]);
  });
  it('gradients of every view', () => {
    gradcheck((t) => reshape(transpose(t), [-1]), [leaf([3, 5], 1)]);
    gradcheck((t) => permute(t, [2, 0, 1]), [leaf([2, 3, 4], 2)]);
    gradcheck((t) => slice(slice(t, 1, 1, 5, 2), 0, -2), [leaf([3, 6], 3)]);
    gradcheck((t) => mul(expand(t, [4, 3, 5]), 2), [leaf([3, 1], 4)]);
    gradcheck((t) => contiguous(transpose(t)), [leaf([1, 7], 5)]);
    gradcheck((t) => squeeze(unsqueeze(t, 0)), [leaf([5], 6)]);
  });
});
