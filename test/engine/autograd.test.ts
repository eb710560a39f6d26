import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { noGrad } from '../../src/engine/autograd.js';
import { randn, tensor } from '../../src/engine/create.js';
import { AutogradError, DTypeError } from '../../src/engine/errors.js';
import { Rng } from '../../src/engine/rng.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { relu } from '../../src/ops/activations.js';
import { add, mul, sub } from '../../src/ops/elementwise.js';
import { linear } from '../../src/ops/matmul.js';
import { mean, sum } from '../../src/ops/reduce.js';

describe('autograd tape', () => {
  it('accumulates gradients across backward calls', () => {
    const x = tensor([1, 2, 3], undefined, { requiresGrad: true });
    sum(mul(x, x)).backward();
    assert.deepEqual(x.grad?.toArray(), [2, 4, 6]);
    sum(mul(x, 3)).backward();
    assert.deepEqual(x.grad?.toArray(), [5, 7, 9]);
  });
  it('sums gradients of a tensor used twice', () => {
    const x = tensor([2], undefined, { requiresGrad: true });
    const y = mul(x, x);
    sum(add(y, mul(y, x))).backward();
    // d/dx (x² + x³) = 2x + 3x² = 16
    assert.deepEqual(x.grad?.toArray(), [16]);
  });
  it('frees the graph, and says so on a second backward', () => {
    const x = tensor([1, 2], undefined, { requiresGrad: true });
    const loss = sum(mul(x, x));
    loss.backward();
    assert.throws(() => loss.backward(), AutogradError);
    assert.throws(() => loss.backward(), /already freed/);
  });
  it('retainGraph allows a second backward', () => {
    const x = tensor([1, 2], undefined, { requiresGrad: true });
    const loss = sum(mul(x, x));
    loss.backward(undefined, { retainGraph: true });
    loss.backward();
    assert.deepEqual(x.grad?.toArray(), [4, 8]);
  });
  it('detach and noGrad record nothing', () => {
    const x = tensor([1, 2], undefined, { requiresGrad: true });
    const d = mul(x.detach(), 2);
    assert.equal(d.requiresGrad, false);
    const n = noGrad(() => mul(x, 2));
    assert.equal(n.requiresGrad, false);
    assert.equal(n.gradNode, null);
    assert.throws(() => sum(n).backward(), AutogradError);
  });
  it('non-scalar backward needs a gradient; int tensors cannot require grad', () => {
    const x = tensor([1, 2], undefined, { requiresGrad: true });
    assert.throws(() => mul(x, 2).backward(), AutogradError);
    assert.throws(() => tensor([1], undefined, { dtype: 'i32', requiresGrad: true }), DTypeError);
  });
  it('memory stays flat over 1,000 training steps of a small MLP', () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const rng = new Rng(0);
    const w1 = randn([64, 32], { rng, std: 0.2, requiresGrad: true });
    const b1 = randn([64], { rng, std: 0.0, requiresGrad: true });
    const w2 = randn([8, 64], { rng, std: 0.2, requiresGrad: true });
    const x = randn([16, 32], { rng });
    const target = randn([16, 8], { rng });
    const params: Tensor[] = [w1, b1, w2];
    const used = () => {
      gc();
      const m = process.memoryUsage();
      return m.heapUsed + m.arrayBuffers;
    };
    let firstLoss = 0;
    let lastLoss = 0;
    // Heap size after a forced GC still wobbles by ~2 MB, so compare the lowest of three samples
    // early against the lowest of three late: a leaked graph (~15 KB a step) would add ~7 MB.
    const early: number[] = [];
    const late: number[] = [];
    for (let step = 0; step < 1000; step++) {
      const h = relu(linear(x, w1, b1));
      const diff = sub(linear(h, w2), target);
      const loss = mean(mul(diff, diff));
      loss.backward();
      noGrad(() => {
        for (const p of params) {
          const d = p.dataSync() as Float32Array;
          const g = p.grad?.dataSync() as Float32Array;
          for (let i = 0; i < d.length; i++) d[i] -= 0.05 * g[i];
          p.grad = null;
        }
      });
      if (step === 0) firstLoss = loss.item();
      if (step === 299 || step === 399 || step === 499) early.push(used());
      if (step === 799 || step === 899 || step === 999) late.push(used());
      lastLoss = loss.item();
    }
    const growth = Math.min(...late) - Math.min(...early);
    assert.ok(lastLoss < firstLoss * 0.5, `loss fell from ${firstLoss} to ${lastLoss}`);
    assert.ok(growth < 3 * 1024 * 1024, `memory grew by ${growth} bytes over 500 steps`);
  });
});
