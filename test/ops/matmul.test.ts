import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { randn, tensor } from '../../src/engine/create.js';
import { ShapeError } from '../../src/engine/errors.js';
import { Rng } from '../../src/engine/rng.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { linear, matmul } from '../../src/ops/matmul.js';
import { slice, transpose } from '../../src/ops/views.js';
import { assertClose, gradcheck, leaf } from '../helpers/gradcheck.js';

/** Naive matmul of 2-D tensors, for reference. */
function naive(a: Tensor, b: Tensor): number[] {
  const [m, k] = a.shape;
  const n = b.shape[1];
  const av = a.toArray();
  const bv = b.toArray();
  const out: number[] = [];
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += av[i * k + p] * bv[p * n + j];
      out.push(s);
    }
  }
  return out;
}

describe('matmul', () => {
  it('matches a naive product for every transpose combination (f32)', () => {
    const rng = new Rng(3);
    for (const [m, k, n] of [
      [1, 1, 1],
      [5, 7, 3],
      [33, 17, 65],
    ]) {
      const a = randn([m, k], { rng });
      const b = randn([k, n], { rng });
      const at = transpose(randn([k, m], { rng }));
      const bt = transpose(randn([n, k], { rng }));
      assertClose(matmul(a, b).toArray(), naive(a, b), 1e-4);
      assertClose(matmul(at, b).toArray(), naive(at, b), 1e-4);
      assertClose(matmul(a, bt).toArray(), naive(a, bt), 1e-4);
      assertClose(matmul(at, bt).toArray(), naive(at, bt), 1e-4);
    }
  });
  it('broadcasts batch axes and promotes vectors', () => {
    const rng = new Rng(4);
    const a = randn([2, 1, 3, 4], { rng });
    const b = randn([5, 4, 2], { rng });
    const c = matmul(a, b);
    assert.deepEqual(c.shape, [2, 5, 3, 2]);
    const a1 = slice(slice(a, 0, 1, 2), 1, 0, 1).toArray();
    const b3 = slice(b, 0, 3, 4).toArray();
    const ref = naive(tensor(a1, [3, 4]), tensor(b3, [4, 2]));
    const got = c.toArray().slice((1 * 5 + 3) * 6, (1 * 5 + 4) * 6);
    assertClose(got, ref, 1e-5);
    assert.deepEqual(
      matmul(
        tensor([1, 2]),
        tensor([
          [1, 2],
          [3, 4],
        ]),
      ).toArray(),
      [7, 10],
    );
    assert.deepEqual(
      matmul(
        tensor([
          [1, 2],
          [3, 4],
        ]),
        tensor([1, 1]),
      ).toArray(),
      [3, 7],
    );
    assert.equal(matmul(tensor([1, 2]), tensor([3, 4])).item(), 11);
    assert.throws(() => matmul(tensor([[1, 2]]), tensor([[1, 2]])), ShapeError);
  });
  it('gradients: plain, transposed, batched with broadcast, vectors', () => {
    gradcheck(matmul, [leaf([3, 4], 1), leaf([4, 5], 2)]);
    gradcheck((x, y) => matmul(transpose(x), transpose(y)), [leaf([4, 3], 3), leaf([5, 4], 4)]);
    gradcheck(matmul, [leaf([2, 1, 3, 4], 5), leaf([3, 4, 2], 6)]);
    gradcheck(matmul, [leaf([4], 7), leaf([2, 4, 3], 8)]);
    gradcheck(matmul, [leaf([1, 1], 9), leaf([1, 1], 10)]);
  });
  it('linear: x Wᵀ + b over leading axes', () => {
    gradcheck((x, w, b) => linear(x, w, b), [leaf([2, 3, 4], 11), leaf([5, 4], 12), leaf([5], 13)]);
    const y = linear(
      tensor([[1, 2]]),
      tensor([
        [1, 0],
        [0, 1],
        [1, 1],
      ]),
      tensor([0, 0, 1]),
    );
    assert.deepEqual(y.toArray(), [1, 2, 4]);
    assert.throws(() => linear(tensor([[1, 2, 3]]), tensor([[1, 0]])), ShapeError);
  });
});
