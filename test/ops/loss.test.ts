import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tensor } from '../../src/engine/create.js';
import { DTypeError, ShapeError } from '../../src/engine/errors.js';
import { Rng } from '../../src/engine/rng.js';
import { type CrossEntropyOptions, crossEntropy } from '../../src/ops/loss.js';
import { slice, transpose } from '../../src/ops/views.js';
import { assertClose, gradcheck, leaf } from '../helpers/gradcheck.js';

const logitRows = [
  [1, 2, 0.5, -1],
  [0.3, 0.3, 0.3, 3],
  [2, -2, 1, 0],
];
const targets = tensor([1, -100, 3], undefined, { dtype: 'i32' });

/** Random class indices in [0, classes), with about a fifth set to ignoreIndex. */
function randomTargets(n: number, classes: number, seed: number, ignoreIndex = -100) {
  const rng = new Rng(seed);
  const values = Array.from({ length: n }, () =>
    rng.uniform() < 0.2 ? ignoreIndex : Math.floor(rng.uniform() * classes),
  );
  return tensor(values, undefined, { dtype: 'i32' });
}

/** Cross entropy of one row by the definition: −Σ_c q_c · log p_c with q = (1−ε)·onehot + ε/C. */
function naiveRow(row: number[], target: number, smoothing: number): number {
  const z = row.reduce((a, x) => a + Math.exp(x), 0);
  const logp = row.map((x) => x - Math.log(z));
  return -logp.reduce((a, lp, c) => a + ((c === target ? 1 - smoothing : 0) + smoothing / row.length) * lp, 0);
}

describe('crossEntropy', () => {
  it('matches torch cross_entropy for every reduction, with ignoreIndex and label smoothing', () => {
    // torch.nn.functional.cross_entropy(logits.double(), tensor([1, -100, 3]), reduction=..., label_smoothing=...)
    const expected: [CrossEntropyOptions, number[]][] = [
      [{ reduction: 'none' }, [0.49518189808585605, 0, 2.4197166463153397]],
      [{ reduction: 'none', labelSmoothing: 0.1 }, [0.6326818980858561, 0, 2.3947166463153398]],
      [{ reduction: 'sum' }, [2.9148985444011957]],
      [{ reduction: 'sum', labelSmoothing: 0.1 }, [3.027398544401196]],
      [{}, [1.4574492722005978]],
      [{ labelSmoothing: 0.1 }, [1.513699272200598]],
    ];
    const logits = tensor(logitRows, undefined, { dtype: 'f64' });
    for (const [options, values] of expected) {
      assertClose(crossEntropy(logits, targets, options).toArray(), values, 1e-15, 1e-14);
    }
    // And the f32 path agrees to f32 precision.
    assertClose(crossEntropy(tensor(logitRows), targets, { labelSmoothing: 0.1 }).toArray(), [1.513699272200598], 1e-6);
  });

  it('has torch gradient for a smoothed mean', () => {
    const logits = tensor(logitRows, undefined, { dtype: 'f64', requiresGrad: true });
    crossEntropy(logits, targets, { labelSmoothing: 0.1 }).backward();
    const torchGrad = [
      0.09960390902410057, -0.15776998120056146, 0.055494457896752766, 0.002671614279708112, 0, 0, 0, 0,
      0.31611651141592767, -0.006481178644030273, 0.10839125857940037, -0.4180265913512979,
    ];
    assertClose(logits.grad?.toArray() ?? [], torchGrad, 1e-15, 1e-13);
  });

  it('agrees with the definition on [B, T, C] logits and a custom ignoreIndex', () => {
    const logits = leaf([2, 3, 5], 81, 2);
    const t = randomTargets(6, 5, 82, 4);
    const loss = crossEntropy(logits, tensor(t.toArray(), [2, 3], { dtype: 'i32' }), {
      ignoreIndex: 4,
      labelSmoothing: 0.25,
      reduction: 'none',
    });
    assert.deepEqual(loss.shape, [2, 3]);
    const rows = logits.toArray();
    const expected = t
      .toArray()
      .map((target, r) => (target === 4 ? 0 : naiveRow(rows.slice(r * 5, r * 5 + 5), target, 0.25)));
    assertClose(loss.toArray(), expected, 1e-13);
  });

  it('is stable for huge logits', () => {
    const shifted = logitRows.map((row) => row.map((x) => x + 1e4));
    for (const dtype of ['f32', 'f64'] as const) {
      const loss = crossEntropy(tensor(shifted, undefined, { dtype }), targets, {
        labelSmoothing: 0.1,
        reduction: 'none',
      });
      assertClose(loss.toArray(), [0.6326818980858561, 0, 2.3947166463153398], dtype === 'f32' ? 2e-3 : 1e-9);
    }
    // Near the f32 limit: the loss is just the gap to the winning logit.
    const extreme = tensor([[3e38, 2.9e38]]);
    const [top, runnerUp] = extreme.toArray();
    const loss = (t: number) =>
      crossEntropy(extreme, tensor([t], undefined, { dtype: 'i32' }), { reduction: 'none' }).item();
    assert.equal(loss(0), 0);
    assertClose([loss(1)], [top - runnerUp], 0, 1e-6);
  });

  it('mean over only ignored rows is NaN, as torch', () => {
    const loss = crossEntropy(tensor([[1, 2]]), tensor([-100], undefined, { dtype: 'i32' }));
    assert.ok(Number.isNaN(loss.item()));
  });

  it('checks targets', () => {
    const logits = tensor(logitRows);
    assert.throws(() => crossEntropy(logits, tensor([1, 4, 0], undefined, { dtype: 'i32' })), ShapeError);
    assert.throws(() => crossEntropy(logits, tensor([1, 0], undefined, { dtype: 'i32' })), ShapeError);
    assert.throws(() => crossEntropy(logits, tensor([1, 0, 2])), DTypeError);
    assert.throws(() => crossEntropy(logits, targets, { labelSmoothing: 1.5 }), ShapeError);
  });

  const reductions = ['mean', 'sum', 'none'] as const;
  for (const reduction of reductions) {
    it(`gradient, reduction '${reduction}', with and without smoothing`, () => {
      const t = randomTargets(7, 5, 83);
      gradcheck((x) => crossEntropy(x, t, { reduction }), [leaf([7, 5], 84, 2)]);
      gradcheck((x) => crossEntropy(x, t, { reduction, labelSmoothing: 0.2 }), [leaf([7, 5], 85, 2)]);
    });
  }

  it('gradient with a single class, a single row, and non-contiguous logits', () => {
    const one = tensor([0], undefined, { dtype: 'i32' });
    gradcheck((x) => crossEntropy(x, one, { labelSmoothing: 0.3 }), [leaf([1, 1], 86)]);
    gradcheck((x) => crossEntropy(transpose(x), randomTargets(3, 4, 87)), [leaf([4, 3], 88)]);
    gradcheck(
      (x) => crossEntropy(slice(x, 1, 0, 6, 2), randomTargets(5, 3, 89), { labelSmoothing: 0.1 }),
      [leaf([5, 6], 90)],
    );
  });
});
