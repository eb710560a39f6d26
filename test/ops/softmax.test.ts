import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tensor } from '../../src/engine/create.js';
import { ShapeError } from '../../src/engine/errors.js';
import { mul } from '../../src/ops/elementwise.js';
import { logSoftmax, softmax } from '../../src/ops/softmax.js';
import { slice, transpose } from '../../src/ops/views.js';
import { assertClose, gradcheck, leaf } from '../helpers/gradcheck.js';

/** Softmax of one row by the textbook formula, in f64. */
function naiveSoftmax(row: number[]): number[] {
  const m = Math.max(...row);
  const e = row.map((v) => Math.exp(v - m));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / z);
}

describe('softmax', () => {
  it('matches the formula along any axis', () => {
    const x = tensor([
      [1, 2, 3],
      [-1, 0, 4],
    ]);
    assertClose(softmax(x).toArray(), [...naiveSoftmax([1, 2, 3]), ...naiveSoftmax([-1, 0, 4])], 1e-7);
    const cols = softmax(x, { axis: 0 }).toArray();
    const byCol = [naiveSoftmax([1, -1]), naiveSoftmax([2, 0]), naiveSoftmax([3, 4])];
    assertClose(cols, [byCol[0][0], byCol[1][0], byCol[2][0], byCol[0][1], byCol[1][1], byCol[2][1]], 1e-7);
    assertClose(logSoftmax(x).toArray(), [...naiveSoftmax([1, 2, 3]), ...naiveSoftmax([-1, 0, 4])].map(Math.log), 1e-6);
    assert.deepEqual(softmax(tensor([5])).toArray(), [1]);
  });

  it('is stable for huge logits in f32 and f64', () => {
    for (const dtype of ['f32', 'f64'] as const) {
      for (const shift of [1e4, -1e4, 3e38]) {
        const base = [0, 1, -2, 0.5];
        const big = tensor(
          base.map((v) => v + shift),
          undefined,
          { dtype },
        );
        // Adding the shift rounds the logits; the reference uses the differences actually stored.
        const stored = big.toArray();
        const rounded = stored.map((v) => v - stored[0]);
        const p = softmax(big).toArray();
        const lp = logSoftmax(big).toArray();
        assert.ok(p.every(Number.isFinite) && lp.every(Number.isFinite), `${dtype} shift ${shift}`);
        assertClose(p, naiveSoftmax(rounded), 1e-6);
        assertClose(lp, naiveSoftmax(rounded).map(Math.log), 1e-5);
      }
    }
  });

  it('rejects a bad axis', () => {
    assert.throws(() => softmax(tensor([1, 2]), { axis: 1 }), ShapeError);
  });

  const cases: [string, number[], number][] = [
    ['[5, 3] last axis', [5, 3], -1],
    ['[1] single element', [1], -1],
    ['[3, 1] size-1 axis', [3, 1], -1],
    ['[2, 3, 5] middle axis', [2, 3, 5], 1],
    ['[4, 7] first axis', [4, 7], 0],
  ];
  for (const [name, shape, axis] of cases) {
    it(`softmax and logSoftmax gradients, ${name}`, () => {
      gradcheck((x) => softmax(x, { axis }), [leaf(shape, 21)]);
      gradcheck((x) => logSoftmax(x, { axis }), [leaf(shape, 22, 3)]);
    });
  }

  it('gradients through non-contiguous views', () => {
    gradcheck((x) => softmax(transpose(x), { axis: -1 }), [leaf([5, 3], 23)]);
    gradcheck((x) => logSoftmax(slice(x, 1, 1, 7, 2)), [leaf([3, 8], 24)]);
    gradcheck(
      (x) => mul(softmax(x, { axis: 0 }), transpose(logSoftmax(transpose(x), { axis: 1 }))),
      [leaf([4, 3], 25)],
    );
  });
});
