import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { randn, tensor, zeros } from '../../src/engine/create.js';
import { ShapeError } from '../../src/engine/errors.js';
import { Rng } from '../../src/engine/rng.js';
import {
  adaptiveAvgPool1d,
  adaptiveAvgPool2d,
  avgPool1d,
  avgPool2d,
  maxPool1d,
  maxPool2d,
} from '../../src/ops/pool.js';
import { mean } from '../../src/ops/reduce.js';
import { slice, transpose } from '../../src/ops/views.js';
import { assertClose, gradcheck, leaf } from '../helpers/gradcheck.js';

const f64 = { dtype: 'f64' as const };
// [[1, -2, 3], [-4, 5, -6], [7, -8, 9]] as [1, 1, 3, 3]
const signed3x3 = () => tensor([1, -2, 3, -4, 5, -6, 7, -8, 9], [1, 1, 3, 3], f64);
// [[1, 2, 3], [4, 5, 6], [7, 8, 9]] as [1, 1, 3, 3]
const counting3x3 = () => tensor([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3], f64);

describe('maxPool', () => {
  it('matches hand-computed windows', () => {
    assert.deepEqual(maxPool2d(signed3x3(), { kernelSize: 2, stride: 1 }).toArray(), [5, 5, 7, 9]);
    // Padded windows: rows {0}, {1, 2} by columns {0}, {1, 2}.
    assert.deepEqual(maxPool2d(signed3x3(), { kernelSize: 2, padding: 1 }).toArray(), [1, 3, 7, 9]);
    // stride defaults to the kernel; the odd last row and column are dropped (floor mode).
    const x = tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19], [1, 1, 4, 5]);
    const out = maxPool2d(x, { kernelSize: 2 });
    assert.deepEqual(out.shape, [1, 1, 2, 2]);
    assert.deepEqual(out.toArray(), [6, 8, 16, 18]);
    assert.deepEqual(
      maxPool1d(tensor([3, 1, 4, 1, 5, 9, 2], [1, 1, 7]), { kernelSize: 3, stride: 2 }).toArray(),
      [4, 5, 9],
    );
  });

  it('pads with -inf, not zero', () => {
    const x = tensor([-1, -2, -3, -4], [1, 1, 2, 2]);
    assert.deepEqual(
      maxPool2d(x, { kernelSize: 2, stride: 1, padding: 1 }).toArray(),
      [-1, -1, -2, -1, -1, -2, -3, -3, -4],
    );
  });

  it('sends the gradient to the first maximum, accumulating over overlapping windows', () => {
    const ties = tensor([1, 3, 3, 2], [1, 1, 4], { dtype: 'f64', requiresGrad: true });
    maxPool1d(ties, { kernelSize: 4 }).backward(tensor([1], [1, 1, 1], f64));
    assert.deepEqual(ties.grad?.toArray(), [0, 1, 0, 0]);
    const overlap = tensor([1, 5, 2], [1, 1, 3], { dtype: 'f64', requiresGrad: true });
    maxPool1d(overlap, { kernelSize: 2, stride: 1 }).backward(tensor([2, 3], [1, 1, 2], f64));
    assert.deepEqual(overlap.grad?.toArray(), [0, 5, 0]);
  });

  it('propagates NaN', () => {
    assert.ok(Number.isNaN(maxPool1d(tensor([1, Number.NaN, 3], [1, 1, 3]), { kernelSize: 3 }).item()));
  });

  const gradCases: [string, number[], Parameters<typeof maxPool2d>[1]][] = [
    ['kernel 2', [2, 3, 4, 5], { kernelSize: 2 }],
    ['kernel 3, stride 2, padding 1', [1, 2, 5, 7], { kernelSize: 3, stride: 2, padding: 1 }],
    [
      'kernel [2, 3], stride [1, 2], padding [1, 1]',
      [2, 1, 4, 5],
      { kernelSize: [2, 3], stride: [1, 2], padding: [1, 1] },
    ],
    ['size 1', [1, 1, 1, 1], { kernelSize: 1 }],
  ];
  for (const [name, shape, options] of gradCases) {
    it(`maxPool2d gradient: ${name}`, () => gradcheck((x) => maxPool2d(x, options), [leaf(shape, 31)]));
  }
  it('maxPool1d gradient, odd length, padding, and a non-contiguous input', () => {
    gradcheck((x) => maxPool1d(x, { kernelSize: 3, stride: 2, padding: 1 }), [leaf([2, 3, 7], 32)]);
    gradcheck((xt) => maxPool1d(transpose(xt, 1, 2), { kernelSize: 2, stride: 1 }), [leaf([2, 5, 3], 33)]);
    gradcheck((xt) => maxPool2d(transpose(xt, 2, 3), { kernelSize: 2 }), [leaf([1, 2, 5, 4], 34)]);
  });
});

describe('avgPool', () => {
  it('matches hand-computed windows', () => {
    assert.deepEqual(avgPool2d(counting3x3(), { kernelSize: 2, stride: 1 }).toArray(), [3, 4, 6, 7]);
    // Windows rows {0}, {1, 2} by columns {0}, {1, 2}: divided by 4, or by the real positions.
    assert.deepEqual(avgPool2d(counting3x3(), { kernelSize: 2, padding: 1 }).toArray(), [0.25, 1.25, 2.75, 7]);
    assert.deepEqual(
      avgPool2d(counting3x3(), { kernelSize: 2, padding: 1, countIncludePad: false }).toArray(),
      [1, 2.5, 5.5, 7],
    );
    const x = tensor([1, 2, 3, 4, 5], [1, 1, 5], f64);
    assert.deepEqual(avgPool1d(x, { kernelSize: 3, stride: 2, padding: 1 }).toArray(), [1, 3, 3]);
    assert.deepEqual(
      avgPool1d(x, { kernelSize: 3, stride: 2, padding: 1, countIncludePad: false }).toArray(),
      [1.5, 3, 4.5],
    );
  });

  it('gradients with and without countIncludePad', () => {
    for (const countIncludePad of [true, false]) {
      gradcheck(
        (x) => avgPool2d(x, { kernelSize: 3, stride: 2, padding: 1, countIncludePad }),
        [leaf([2, 2, 5, 6], 41)],
      );
      gradcheck((x) => avgPool1d(x, { kernelSize: 2, stride: 1, padding: 1, countIncludePad }), [leaf([1, 3, 5], 42)]);
    }
    gradcheck((x) => avgPool2d(x, { kernelSize: [1, 2], stride: [2, 1] }), [leaf([1, 1, 3, 3], 43)]);
    gradcheck((x) => avgPool2d(x, { kernelSize: 1 }), [leaf([1, 1, 1, 1], 44)]);
  });

  it('gradient through a non-contiguous input', () => {
    gradcheck((x) => avgPool2d(slice(x, 3, 0, 7, 2), { kernelSize: 2, stride: 1 }), [leaf([2, 1, 3, 7], 45)]);
  });
});

describe('adaptiveAvgPool', () => {
  it('uses floor/ceil windows as PyTorch', () => {
    const x = tensor([1, 2, 3, 4, 5], [1, 1, 5], f64);
    assert.deepEqual(adaptiveAvgPool1d(x, 2).toArray(), [2, 4]); // windows [0, 3), [2, 5)
    assert.deepEqual(adaptiveAvgPool1d(x, 3).toArray(), [1.5, 3, 4.5]); // [0, 2), [1, 4), [3, 5)
    assert.deepEqual(adaptiveAvgPool2d(counting3x3(), [1, 2]).toArray(), [4.5, 5.5]); // all rows by columns [0, 2), [1, 3)
  });

  it('outputSize 1 is global average pooling; equal sizes are the identity', () => {
    const x = randn([2, 3, 4, 5], { dtype: 'f64', rng: new Rng(51) });
    const pooled = adaptiveAvgPool2d(x, 1);
    assert.deepEqual(pooled.shape, [2, 3, 1, 1]);
    assertClose(pooled.toArray(), mean(x, { axis: [2, 3] }).toArray(), 1e-14);
    assertClose(adaptiveAvgPool2d(x, [4, 5]).toArray(), x.toArray(), 0);
  });

  it('gradients', () => {
    gradcheck((x) => adaptiveAvgPool2d(x, [2, 3]), [leaf([2, 2, 5, 7], 52)]);
    gradcheck((x) => adaptiveAvgPool2d(x, 1), [leaf([1, 3, 3, 2], 53)]);
    gradcheck((x) => adaptiveAvgPool1d(transpose(x, 1, 2), 4), [leaf([1, 6, 2], 54)]);
  });
});

describe('pooling options', () => {
  it('accepts unbatched inputs', () => {
    assert.deepEqual(maxPool2d(zeros([3, 4, 4]), { kernelSize: 2 }).shape, [3, 2, 2]);
    assert.deepEqual(avgPool1d(zeros([3, 6]), { kernelSize: 3 }).shape, [3, 2]);
    assert.deepEqual(adaptiveAvgPool2d(zeros([3, 4, 4]), [1, 2]).shape, [3, 1, 2]);
  });

  it('rejects bad options', () => {
    const x = zeros([1, 1, 4, 4]);
    assert.throws(() => maxPool2d(x, { kernelSize: 5 }), ShapeError);
    assert.throws(() => maxPool2d(x, { kernelSize: 2, padding: 2 }), ShapeError); // more than half the kernel
    assert.throws(() => avgPool2d(x, { kernelSize: 0 }), ShapeError);
    assert.throws(() => avgPool2d(x, { kernelSize: [2, 2, 2] as never }), ShapeError);
    assert.throws(() => maxPool1d(x, { kernelSize: 2 }), ShapeError); // rank 4 for a 1-D pool
    assert.throws(() => adaptiveAvgPool2d(x, 0), ShapeError);
    assert.throws(() => adaptiveAvgPool2d(zeros([1, 1, 0, 3]), 1), ShapeError);
  });
});
