import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { arange, ones, tensor, zeros } from '../../src/engine/create.js';
import { DTypeError, ShapeError } from '../../src/engine/errors.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { mul } from '../../src/ops/elementwise.js';
import { embedding, gather, indexAdd, indexSelect, scatterAdd } from '../../src/ops/indexing.js';
import { reshape, slice, transpose } from '../../src/ops/views.js';
import { gradcheck, leaf } from '../helpers/gradcheck.js';

const ids = (values: number[] | number[][], shape?: number[]): Tensor => tensor(values, shape, { dtype: 'i32' });

describe('embedding', () => {
  const weight = tensor([
    [0, 1],
    [10, 11],
    [20, 21],
  ]);
  it('picks rows into [...ids.shape, C]', () => {
    const out = embedding(
      weight,
      ids([
        [2, 0],
        [2, 1],
      ]),
    );
    assert.deepEqual(out.shape, [2, 2, 2]);
    assert.deepEqual(out.toArray(), [20, 21, 0, 1, 20, 21, 10, 11]);
    const one = embedding(weight, ids([1], []));
    assert.deepEqual(one.shape, [2]);
    assert.deepEqual(one.toArray(), [10, 11]);
  });
  it('repeated ids accumulate into the weight gradient', () => {
    const w = zeros([4, 3], { dtype: 'f64', requiresGrad: true });
    const out = embedding(w, ids([1, 3, 1, 1]));
    out.backward(ones(out.shape, { dtype: 'f64' }));
    assert.deepEqual(w.grad?.toArray(), [0, 0, 0, 3, 3, 3, 0, 0, 0, 1, 1, 1]);
  });
  it('gradient', () => {
    const batch = ids([0, 4, 2, 4, 4, 1], [2, 3]);
    gradcheck((w) => embedding(w, batch), [leaf([5, 3], 1)]);
    gradcheck((w) => embedding(transpose(w), batch), [leaf([3, 5], 2)]);
    gradcheck((w) => embedding(w, ids([0, 0, 0])), [leaf([1, 1], 3)]);
  });
  it('rejects bad ids and shapes', () => {
    assert.throws(
      () => embedding(weight, ids([0, 3])),
      (e: Error) => e instanceof ShapeError && /id 3\b/.test(e.message),
    );
    assert.throws(
      () => embedding(weight, ids([-1])),
      (e: Error) => e instanceof ShapeError && /id -1\b/.test(e.message),
    );
    assert.throws(() => embedding(weight, tensor([0, 1])), DTypeError);
    assert.throws(() => embedding(reshape(weight, [6]), ids([0])), ShapeError);
  });
});

describe('indexSelect and indexAdd', () => {
  const x = reshape(arange(12), [3, 4]);
  it('select along either axis, keeping the dtype', () => {
    assert.deepEqual(indexSelect(x, 0, ids([2, 0])).toArray(), [8, 9, 10, 11, 0, 1, 2, 3]);
    const cols = indexSelect(x, -1, ids([3, 0, 3]));
    assert.deepEqual(cols.shape, [3, 3]);
    assert.deepEqual(cols.toArray(), [3, 0, 3, 7, 4, 7, 11, 8, 11]);
    const xi = x.to('i32');
    assert.equal(indexSelect(xi, 1, ids([1])).dtype, 'i32');
    assert.deepEqual(indexSelect(transpose(x), 0, ids([1])).toArray(), [1, 5, 9]);
    assert.deepEqual(indexSelect(x, 0, ids([], [0])).shape, [0, 4]);
  });
  it('indexAdd accumulates repeated positions', () => {
    const out = indexAdd(
      zeros([3, 2]),
      0,
      ids([2, 0, 2]),
      tensor([
        [1, 2],
        [3, 4],
        [5, 6],
      ]),
    );
    assert.deepEqual(out.toArray(), [3, 4, 0, 0, 6, 8]);
  });
  it('gradients', () => {
    gradcheck((t) => indexSelect(t, 1, ids([4, 0, 4, 2])), [leaf([2, 5, 3], 4)]);
    gradcheck((t) => indexSelect(transpose(t), 0, ids([1, 1])), [leaf([3, 2], 5)]);
    gradcheck((t) => indexSelect(t, 0, ids([0])), [leaf([1], 6)]);
    gradcheck((t, s) => indexAdd(t, -1, ids([2, 0, 2]), transpose(s)), [leaf([3, 3], 7), leaf([3, 3], 8)]);
  });
  it('rejects bad indices', () => {
    assert.throws(
      () => indexSelect(x, 0, ids([3])),
      (e: Error) => e instanceof ShapeError && /index 3\b/.test(e.message),
    );
    assert.throws(() => indexSelect(x, 2, ids([0])), ShapeError);
    assert.throws(() => indexSelect(x, 0, ids([[0]])), ShapeError);
    assert.throws(() => indexSelect(x, 0, tensor([0])), DTypeError);
    assert.throws(() => indexAdd(zeros([3, 2]), 0, ids([0]), zeros([2, 2])), ShapeError);
  });
});

describe('gather and scatterAdd', () => {
  it('gather as torch.gather', () => {
    const t = tensor([
      [1, 2],
      [3, 4],
    ]);
    assert.deepEqual(
      gather(
        t,
        1,
        ids([
          [0, 0],
          [1, 0],
        ]),
      ).toArray(),
      [1, 1, 4, 3],
    );
    assert.deepEqual(gather(t, 0, ids([[1, 0]])).toArray(), [3, 2]);
    // The index may be smaller than the input off the axis.
    const x = reshape(arange(12), [3, 4]);
    const g = gather(x, 1, ids([3, 0, 1, 1], [2, 2]));
    assert.deepEqual(g.shape, [2, 2]);
    assert.deepEqual(g.toArray(), [3, 0, 5, 5]);
    assert.deepEqual(gather(transpose(x), 0, ids([[3, 0, 1]])).toArray(), [3, 4, 9]);
  });
  it('scatterAdd as torch.scatter_add', () => {
    const src = ones([2, 5]);
    const once = scatterAdd(zeros([3, 5]), 0, ids([[0, 1, 2, 0, 0]]), src);
    assert.deepEqual(once.toArray(), [1, 0, 0, 1, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0]);
    const twice = scatterAdd(
      zeros([3, 5]),
      0,
      ids([
        [0, 1, 2, 0, 0],
        [0, 1, 2, 2, 2],
      ]),
      src,
    );
    assert.deepEqual(twice.toArray(), [2, 0, 0, 1, 1, 0, 2, 0, 0, 0, 0, 0, 2, 1, 1]);
    assert.equal(scatterAdd(zeros([2]), 0, ids([1]), tensor([1], undefined, { dtype: 'f64' })).dtype, 'f64');
  });
  it('gradients', () => {
    const index = ids([2, 0, 2, 1, 1, 1, 0, 0, 2], [3, 3]);
    gradcheck((t) => gather(t, 0, index), [leaf([3, 4], 9)]);
    gradcheck((t) => gather(transpose(t), 1, index), [leaf([3, 3], 10)]);
    gradcheck((t) => gather(t, 0, ids([0, 0], [2])), [leaf([1], 11)]);
    // src larger than index: the unused part gets a zero gradient.
    gradcheck((t, s) => scatterAdd(transpose(t), -1, index, slice(s, 0, 1)), [leaf([5, 3], 12), leaf([4, 5], 13)]);
    gradcheck((t, s) => mul(scatterAdd(t, 1, ids([0, 0, 0], [1, 3]), s), 2), [leaf([1, 1], 14), leaf([1, 3], 15)]);
  });
  it('rejects bad indices', () => {
    const x = zeros([3, 4]);
    assert.throws(
      () => gather(x, 1, ids([4], [1, 1])),
      (e: Error) => e instanceof ShapeError && /index 4\b/.test(e.message),
    );
    assert.throws(() => gather(x, 1, ids([0, 1, 2])), ShapeError);
    assert.throws(() => gather(x, 1, ids([0, 0, 0, 0], [4, 1])), ShapeError);
    assert.throws(() => gather(x, 1, tensor([[0]])), DTypeError);
    assert.throws(() => scatterAdd(x, 0, ids([[3]]), zeros([1, 1])), ShapeError);
    assert.throws(() => scatterAdd(x, 0, ids([[0, 1]]), zeros([1, 1])), ShapeError);
  });
});
