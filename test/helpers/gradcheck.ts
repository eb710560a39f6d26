import assert from 'node:assert/strict';
import { noGrad } from '../../src/engine/autograd.js';
import { randn } from '../../src/engine/create.js';
import { Rng } from '../../src/engine/rng.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { mul } from '../../src/ops/elementwise.js';
import { sum } from '../../src/ops/reduce.js';

export interface GradcheckOptions {
  eps?: number;
  atol?: number;
  rtol?: number;
  seed?: number;
}

/** A random f64 leaf that requires grad. */
export function leaf(shape: number[], seed: number, scale = 1): Tensor {
  return randn(shape, { dtype: 'f64', rng: new Rng(seed), std: scale }).requiresGrad_();
}

/**
 * Compare the tape's gradients of fn against central finite differences in f64.
 * The output is contracted with fixed random weights, so every output element is checked.
 */
export function gradcheck(fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], options: GradcheckOptions = {}): void {
  const eps = options.eps ?? 1e-6;
  const atol = options.atol ?? 1e-7;
  const rtol = options.rtol ?? 1e-5;
  for (const x of inputs) {
    assert.equal(x.dtype, 'f64', 'gradcheck inputs must be f64');
    x.grad = null;
  }
  const out = fn(...inputs);
  const weights = randn(out.shape, { dtype: 'f64', rng: new Rng(options.seed ?? 1234) });
  const objective = () => sum(mul(fn(...inputs), weights)).item();
  const loss = sum(mul(out, weights));
  loss.backward();
  inputs.forEach((x, k) => {
    if (!x.requiresGrad) return;
    const data = x.dataSync() as Float64Array;
    const analytic = x.grad ? x.grad.toArray() : new Array<number>(x.size).fill(0);
    // A contiguous leaf's dataSync() is a view of its storage: nudging it nudges the leaf.
    assert.ok(x.isContiguous(), 'gradcheck leaves must be contiguous; build views inside fn');
    compareWithCentralDifferences(data, analytic, () => noGrad(objective), {
      eps,
      tol: (numeric) => atol + rtol * Math.abs(numeric),
      label: `input ${k}`,
    });
  });
}

/** Element-wise closeness with a readable failure message. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol = 1e-5, rtol = 1e-5): void {
  assert.equal(actual.length, expected.length, 'length differs');
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (a === e || (Number.isNaN(e) && Number.isNaN(a))) continue;
    const diff = Math.abs(a - e);
    if (!(diff <= atol + rtol * Math.abs(e))) {
      assert.fail(`element ${i}: ${a} vs expected ${e} (diff ${diff})`);
    }
  }
}

/**
 * Nudge each of `values` by ±eps in place (restoring it), and fail where the central difference of `objective` and
 * the analytic gradient differ by more than tol(numeric).
 */
export function compareWithCentralDifferences(
  values: Float64Array,
  analytic: readonly number[],
  objective: () => number,
  options: { eps: number; tol: (numeric: number) => number; label: string },
): void {
  const { eps, tol, label } = options;
  for (let i = 0; i < values.length; i++) {
    const orig = values[i];
    values[i] = orig + eps;
    const up = objective();
    values[i] = orig - eps;
    const down = objective();
    values[i] = orig;
    const numeric = (up - down) / (2 * eps);
    const diff = Math.abs(numeric - analytic[i]);
    const limit = tol(numeric);
    if (!(diff <= limit)) {
      assert.fail(`${label} element ${i}: analytic ${analytic[i]} vs numeric ${numeric} (diff ${diff} > ${limit})`);
    }
  }
}
