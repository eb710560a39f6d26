import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backendName } from '../../src/backends/registry.js';
import { randn } from '../../src/engine/create.js';
import { ShapeError } from '../../src/engine/errors.js';
import { QUANT_FORMATS } from '../../src/engine/quant/formats.js';
import { dequantize, quantize } from '../../src/engine/quant/quantized-tensor.js';
import { Rng } from '../../src/engine/rng.js';
import { mul } from '../../src/ops/elementwise.js';
import { linear, matmul } from '../../src/ops/matmul.js';
import { sum } from '../../src/ops/reduce.js';
import { transpose } from '../../src/ops/views.js';
import { assertClose } from '../helpers/gradcheck.js';

const SHAPES = [
  { m: 1, out: 37, inF: 301, groupSize: 64 },
  { m: 5, out: 16, inF: 256, groupSize: 256 },
  { m: 64, out: 23, inF: 129, groupSize: 32 },
];

describe('linear and matmul with a quantised weight', () => {
  it('equal linear(x, dequantize(w)) to float rounding, for every format', () => {
    for (const format of QUANT_FORMATS) {
      for (const { m, out, inF, groupSize } of SHAPES) {
        const q = quantize(randn([out, inF], { rng: new Rng(out) }), format, { groupSize });
        const x = randn([m, inF], { rng: new Rng(m) });
        const bias = randn([out], { rng: new Rng(2) });
        const y = linear(x, q, bias);
        assert.deepEqual(y.shape, [m, out]);
        assertClose(y.toArray(), linear(x, dequantize(q), bias).toArray(), 1e-4, 1e-4);
        assertClose(matmul(x, q.t()).toArray(), matmul(x, transpose(dequantize(q), 0, 1)).toArray(), 1e-4, 1e-4);
      }
    }
  });

  it('under the TypeScript backend, is bit for bit linear(x, dequantize(w))', { skip: backendName() !== 'ts' }, () => {
    const q = quantize(randn([40, 300], { rng: new Rng(1) }), 'int4', { groupSize: 64 });
    const x = randn([3, 300], { rng: new Rng(2) });
    assert.deepEqual(linear(x, q).toArray(), linear(x, dequantize(q)).toArray());
  });

  it('fold batch axes into rows and take 1-D inputs', () => {
    const q = quantize(randn([6, 10], { rng: new Rng(3) }), 'int8', { groupSize: 4 });
    const w = dequantize(q);
    const x = randn([2, 3, 10], { rng: new Rng(4) });
    const y = linear(x, q);
    assert.deepEqual(y.shape, [2, 3, 6]);
    assertClose(y.toArray(), linear(x, w).toArray(), 1e-5, 1e-5);
    const v = randn([10], { rng: new Rng(5) });
    assert.deepEqual(matmul(v, q.t()).shape, [6]);
    assertClose(matmul(v, q.t()).toArray(), matmul(v, transpose(w, 0, 1)).toArray(), 1e-5, 1e-5);
    // matmul(g, q) is g · W: [.., out] -> [.., in].
    const g = randn([4, 6], { rng: new Rng(6) });
    assertClose(matmul(g, q).toArray(), matmul(g, w).toArray(), 1e-5, 1e-5);
  });

  it('send the gradient to x (dX = dY · dequant(W)), in f32 and f64', () => {
    for (const dtype of ['f32', 'f64'] as const) {
      const q = quantize(randn([9, 70], { rng: new Rng(7) }), 'int4', { groupSize: 16 });
      const r = randn([5, 9], { rng: new Rng(8), dtype });
      const x1 = randn([5, 70], { rng: new Rng(9), dtype }).requiresGrad_();
      const x2 = randn([5, 70], { rng: new Rng(9), dtype }).requiresGrad_();
      sum(mul(linear(x1, q), r)).backward();
      sum(mul(linear(x2, dequantize(q)), r)).backward();
      const tol = dtype === 'f64' ? 1e-6 : 1e-5;
      assertClose(x1.grad?.toArray() ?? [], x2.grad?.toArray() ?? [], tol, tol);
      // and through matmul(g, q), whose gradient is a x · Wᵀ GEMM
      const g1 = randn([5, 9], { rng: new Rng(10), dtype }).requiresGrad_();
      const g2 = randn([5, 9], { rng: new Rng(10), dtype }).requiresGrad_();
      const s = randn([5, 70], { rng: new Rng(11), dtype });
      sum(mul(matmul(g1, q), s)).backward();
      sum(mul(matmul(g2, dequantize(q)), s)).backward();
      assertClose(g1.grad?.toArray() ?? [], g2.grad?.toArray() ?? [], tol, tol);
    }
  });

  it('reject mismatched shapes and a transposed linear weight', () => {
    const q = quantize(randn([6, 10]), 'int8');
    assert.throws(() => linear(randn([2, 9]), q), ShapeError);
    assert.throws(() => linear(randn([2, 6]), q.t()), ShapeError);
    assert.throws(() => matmul(randn([2, 10]), q), ShapeError);
  });
});
