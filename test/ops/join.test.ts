import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { arange, tensor, zeros } from '../../src/engine/create.js';
import { ShapeError } from '../../src/engine/errors.js';
import { cat, chunk, concat, split, stack } from '../../src/ops/join.js';
import { reshape, transpose } from '../../src/ops/views.js';
import { gradcheck, leaf } from '../helpers/gradcheck.js';

describe('concat and stack', () => {
  const a = tensor([
    [1, 2],
    [3, 4],
  ]);
  const b = tensor([[5, 6]]);
  it('concat along either axis', () => {
    assert.deepEqual(concat([a, b]).toArray(), [1, 2, 3, 4, 5, 6]);
    const wide = concat([a, transpose(a), tensor([[9], [9]])], -1);
    assert.deepEqual(wide.shape, [2, 5]);
    assert.deepEqual(wide.toArray(), [1, 2, 1, 3, 9, 3, 4, 2, 4, 9]);
    assert.deepEqual(cat([a, zeros([0, 2]), b], 0).shape, [3, 2]);
  });
  it('keeps a shared dtype and promotes mixed ones', () => {
    assert.equal(concat([a.to('i32'), b.to('i32')]).dtype, 'i32');
    const mixed = concat([a, b.to('f64'), b.to('i32')]);
    assert.equal(mixed.dtype, 'f64');
    assert.deepEqual(mixed.toArray(), [1, 2, 3, 4, 5, 6, 5, 6]);
  });
  it('stack adds an axis', () => {
    const s = stack([a, a.to('f64')], -1);
    assert.deepEqual(s.shape, [2, 2, 2]);
    assert.deepEqual(s.toArray(), [1, 1, 2, 2, 3, 3, 4, 4]);
    assert.deepEqual(stack([tensor(1, []), tensor(2, [])]).toArray(), [1, 2]);
  });
  it('gradients', () => {
    gradcheck((x, y, z) => concat([x, transpose(y), z], 1), [leaf([3, 2], 1), leaf([1, 3], 2), leaf([3, 5], 3)]);
    gradcheck((x, y) => concat([x, y]), [leaf([1], 4), leaf([3], 5)]);
    gradcheck((x, y) => stack([transpose(x), y], 1), [leaf([3, 2], 6), leaf([2, 3], 7)]);
  });
  it('rejects mismatched shapes', () => {
    assert.throws(() => concat([]), ShapeError);
    assert.throws(() => concat([a, b], 1), ShapeError);
    assert.throws(() => concat([a, reshape(a, [4])]), ShapeError);
    assert.throws(() => concat([a], 2), ShapeError);
    assert.throws(() => stack([a, b]), ShapeError);
    assert.throws(() => stack([a], 3), ShapeError);
  });
});

describe('split and chunk', () => {
  const x = reshape(arange(10), [5, 2]);
  it('split by size gives views, the last one smaller', () => {
    const parts = split(x, 2);
    assert.deepEqual(
      parts.map((p) => p.shape[0]),
      [2, 2, 1],
    );
    assert.ok(parts.every((p) => p.storage === x.storage));
    assert.deepEqual(parts[2].toArray(), [8, 9]);
    assert.deepEqual(
      split(x, 1, 1).map((p) => p.toArray()),
      [
        [0, 2, 4, 6, 8],
        [1, 3, 5, 7, 9],
      ],
    );
    assert.deepEqual(
      split(zeros([0, 2]), 3).map((p) => p.shape),
      [[0, 2]],
    );
  });
  it('split by sections', () => {
    const parts = split(x, [1, 0, 4]);
    assert.deepEqual(
      parts.map((p) => p.shape),
      [
        [1, 2],
        [0, 2],
        [4, 2],
      ],
    );
    assert.deepEqual(parts[2].toArray(), [2, 3, 4, 5, 6, 7, 8, 9]);
  });
  it('chunk as torch.chunk', () => {
    const sizes = (n: number, len: number) => chunk(zeros([len]), n).map((p) => p.shape[0]);
    assert.deepEqual(sizes(3, 5), [2, 2, 1]);
    assert.deepEqual(sizes(4, 6), [2, 2, 2]);
    assert.deepEqual(sizes(3, 0), [0, 0, 0]);
    assert.deepEqual(sizes(1, 1), [1]);
    assert.deepEqual(chunk(x, 2, -1)[1].toArray(), [1, 3, 5, 7, 9]);
  });
  it('gradients flow through the pieces', () => {
    gradcheck((t) => concat(split(transpose(t), 2, 1).reverse(), 1), [leaf([5, 3], 8)]);
    gradcheck((t) => concat(chunk(t, 3, 0).reverse()), [leaf([7], 9)]);
  });
  it('rejects bad sizes', () => {
    assert.throws(() => split(x, 0), ShapeError);
    assert.throws(() => split(x, 1.5), ShapeError);
    assert.throws(() => split(x, [2, 2]), ShapeError);
    assert.throws(() => split(x, [6, -1]), ShapeError);
    assert.throws(() => chunk(x, 0), ShapeError);
    assert.throws(() => split(x, 1, 2), ShapeError);
  });
});
