import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tensor } from '../../src/engine/create.js';
import type { FloatDType } from '../../src/engine/dtype.js';
import { ShapeError } from '../../src/engine/errors.js';
import { Rng } from '../../src/engine/rng.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { mul } from '../../src/ops/elementwise.js';
import { argsort, sort, topk } from '../../src/ops/sort.js';
import { reshape, slice, transpose } from '../../src/ops/views.js';
import { gradcheck, leaf } from '../helpers/gradcheck.js';

const { NaN: nan, POSITIVE_INFINITY: inf } = Number;

/** Stable reference order of one row: NaN above everything, -0 equal to +0 (Array.prototype.sort is stable). */
function referenceOrder(row: number[], descending: boolean): number[] {
  const rank = (v: number) => (Number.isNaN(v) ? inf : v);
  const cmp = (i: number, j: number) => {
    const a = row[i];
    const b = row[j];
    if (Number.isNaN(a) || Number.isNaN(b)) return Number(Number.isNaN(a)) - Number(Number.isNaN(b));
    return rank(a) < rank(b) ? -1 : rank(a) > rank(b) ? 1 : 0;
  };
  return row.map((_, i) => i).sort((i, j) => (descending ? cmp(j, i) : cmp(i, j)));
}

/** Rows of random values with many ties, signed zeros, infinities and NaNs. */
function messyRows(rows: number, n: number, dtype: FloatDType, seed: number): Tensor {
  const rng = new Rng(seed);
  const special = [nan, inf, -inf, 0, -0];
  const data = Array.from({ length: rows * n }, () => {
    const u = rng.uniform();
    if (u < 0.05) return special[rng.int(special.length)];
    // Coarse values tie often; in f64, 1 + tiny differences only the low word can tell apart.
    if (u < 0.5) return Math.round(rng.normal() * 4) / 2;
    return dtype === 'f64' && u < 0.6 ? 1 + rng.int(50) * 1e-13 : rng.normal() * 100;
  });
  return tensor(data, [rows, n], { dtype });
}

function row(t: Tensor, r: number): number[] {
  const n = t.shape[1];
  return t.toArray().slice(r * n, (r + 1) * n);
}

describe('sort', () => {
  it('is stable in both directions', () => {
    const x = tensor([3, 1, 2, 1, 3]);
    const up = sort(x);
    assert.deepEqual(up.values.toArray(), [1, 1, 2, 3, 3]);
    assert.deepEqual(up.indices.toArray(), [1, 3, 2, 0, 4]);
    assert.equal(up.indices.dtype, 'i32');
    const down = sort(x, { descending: true });
    assert.deepEqual(down.values.toArray(), [3, 3, 2, 1, 1]);
    assert.deepEqual(down.indices.toArray(), [0, 4, 2, 1, 3]);
  });
  it('puts NaN above +Inf and ties -0 with +0', () => {
    const x = tensor([1, nan, -inf, 0, nan, inf], undefined, { dtype: 'f64' });
    assert.deepEqual(sort(x).indices.toArray(), [2, 3, 0, 5, 1, 4]);
    assert.deepEqual(sort(x, { descending: true }).indices.toArray(), [1, 4, 5, 0, 3, 2]);
    assert.deepEqual(sort(x, { descending: true }).values.toArray(), [nan, nan, inf, 1, 0, -inf]);
    assert.deepEqual(argsort(tensor([0, -0, 0, -0])).toArray(), [0, 1, 2, 3]);
    assert.deepEqual(argsort(tensor([0, -0, 0, -0]), { descending: true }).toArray(), [0, 1, 2, 3]);
  });
  it('sorts along any axis of a strided view', () => {
    const x = tensor([
      [3, 0, 2],
      [1, 5, 2],
    ]);
    const byCol = sort(x, { axis: 0 });
    assert.deepEqual(byCol.values.toArray(), [1, 0, 2, 3, 5, 2]);
    assert.deepEqual(byCol.indices.toArray(), [1, 0, 0, 0, 1, 1]);
    assert.deepEqual(argsort(transpose(x), { descending: true }).toArray(), [0, 1, 1, 0, 0, 1]);
  });
  for (const dtype of ['f32', 'f64'] as const) {
    it(`matches a reference on long ${dtype} rows (radix path) and short ones`, () => {
      for (const n of [1, 7, 48, 49, 3000]) {
        const x = messyRows(3, n, dtype, n);
        for (const descending of [false, true]) {
          const { values, indices } = sort(x, { descending });
          for (let r = 0; r < 3; r++) {
            const input = row(x, r);
            const expected = referenceOrder(input, descending);
            assert.deepEqual(row(indices, r), expected, `n=${n} row ${r} descending=${descending}`);
            assert.deepEqual(
              row(values, r),
              expected.map((i) => input[i]),
            );
          }
        }
      }
    });
  }
  it('gradient scatters back to the sorted positions', () => {
    gradcheck((t) => sort(t).values, [leaf([3, 5], 1)]);
    gradcheck((t) => sort(transpose(t), { axis: 0, descending: true }).values, [leaf([4, 3], 2)]);
    gradcheck((t) => sort(t).values, [leaf([1], 3)]);
    // 61 elements take the radix path.
    gradcheck((t) => mul(sort(slice(t, 0, 1, undefined, 2)).values, 3), [leaf([122], 4)]);
  });
});

describe('topk', () => {
  const x = tensor([1, 5, 3, 5, 2, nan, 3]);
  it('largest and smallest, ties to the lowest index, NaN largest', () => {
    const top = topk(x, 3);
    assert.deepEqual(top.values.toArray(), [nan, 5, 5]);
    assert.deepEqual(top.indices.toArray(), [5, 1, 3]);
    const low = topk(x, 4, { largest: false });
    assert.deepEqual(low.values.toArray(), [1, 2, 3, 3]);
    assert.deepEqual(low.indices.toArray(), [0, 4, 2, 6]);
    assert.deepEqual(topk(x, 7, { largest: false }).indices.toArray(), [0, 4, 2, 6, 1, 3, 5]);
    assert.deepEqual(topk(x, 0).values.shape, [0]);
  });
  it('sorted: false returns the picks in position order', () => {
    assert.deepEqual(topk(x, 3, { sorted: false }).indices.toArray(), [1, 3, 5]);
    assert.deepEqual(topk(x, 3, { sorted: false, largest: false }).values.toArray(), [1, 3, 2]);
  });
  it('selects along an axis', () => {
    const m = tensor([
      [1, 9],
      [7, 2],
      [4, 4],
    ]);
    const top = topk(m, 2, { axis: 0 });
    assert.deepEqual(top.values.shape, [2, 2]);
    assert.deepEqual(top.values.toArray(), [7, 9, 4, 4]);
    assert.deepEqual(top.indices.toArray(), [1, 0, 2, 2]);
  });
  for (const dtype of ['f32', 'f64'] as const) {
    it(`agrees with sort on the heap and sort paths (${dtype})`, () => {
      const rows = messyRows(4, 2000, dtype, 7);
      for (const k of [1, 5, 62, 63, 500, 2000]) {
        for (const largest of [true, false]) {
          const top = topk(rows, k, { largest });
          const full = sort(rows, { descending: largest });
          for (let r = 0; r < 4; r++) {
            assert.deepEqual(row(top.indices, r), row(full.indices, r).slice(0, k), `k=${k} largest=${largest}`);
          }
          const unsorted = topk(rows, k, { largest, sorted: false });
          for (let r = 0; r < 4; r++) {
            const picks = row(full.indices, r).slice(0, k);
            assert.deepEqual(
              row(unsorted.indices, r),
              picks.sort((a, b) => a - b),
            );
          }
        }
      }
    });
  }
  it('gradient scatters back to the selected positions', () => {
    gradcheck((t) => topk(t, 2).values, [leaf([3, 5], 5)]);
    gradcheck((t) => topk(transpose(t), 3, { axis: 0, largest: false }).values, [leaf([4, 5], 6)]);
    gradcheck((t) => topk(t, 1).values, [leaf([1], 7)]);
    gradcheck((t) => topk(reshape(t, [3, 67]), 2, { sorted: false }).values, [leaf([201], 8)]);
  });
  it('rejects k out of range', () => {
    assert.throws(() => topk(x, 8), ShapeError);
    assert.throws(() => topk(x, -1), ShapeError);
    assert.throws(() => topk(x, 1.5), ShapeError);
    assert.throws(() => topk(x, 1, { axis: 1 }), ShapeError);
  });
});
