import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tensor } from '../../src/engine/create.js';
import { ShapeError } from '../../src/engine/errors.js';
import { layerNorm, rmsNorm } from '../../src/ops/norm.js';
import { slice, transpose } from '../../src/ops/views.js';
import { assertClose, gradcheck, leaf } from '../helpers/gradcheck.js';

const x = tensor([
  [1, -2, 3, 0.5, -0.25],
  [100, 200, -300, 1e-3, 7],
]);
const weight = tensor([0.5, -1, 2, 1.5, 0.25]);
const bias = tensor([0.1, 0.2, 0.3, 0.4, 0.5]);

describe('rmsNorm', () => {
  it('matches HF LlamaRMSNorm in f32', () => {
    // LlamaRMSNorm(5, eps=1e-6) with this weight, applied to x in float32 (transformers 5.18, torch 2.13).
    const hf = [
      0.29552701115608215, 1.1821080446243286, 3.5463242530822754, 0.4432905316352844, -0.03694087639451027,
      0.29875487089157104, -1.1950194835662842, -3.5850584506988525, 8.962646461441182e-6, 0.010456420481204987,
    ];
    const y = rmsNorm(x, weight);
    assert.equal(y.dtype, 'f32');
    // Bit-exact: every step is rounded to f32 in HF's order.
    assert.deepEqual(y.toArray(), hf);
  });

  it('uses eps inside the square root', () => {
    const y = rmsNorm(
      tensor([0, 0, 0, 1e-4], undefined, { dtype: 'f64' }),
      tensor([1, 1, 1, 1], undefined, { dtype: 'f64' }),
      {
        eps: 1e-2,
      },
    );
    assertClose(y.toArray(), [0, 0, 0, 1e-4 / Math.sqrt(1e-8 / 4 + 1e-2)], 0, 1e-14);
  });

  it('checks the weight shape', () => {
    assert.throws(() => rmsNorm(x, tensor([1, 2, 3])), ShapeError);
  });

  for (const shape of [
    [4, 5],
    [1, 1],
    [2, 3, 7],
  ]) {
    it(`gradient for x and weight, [${shape}]`, () => {
      const dim = shape[shape.length - 1];
      gradcheck((a, w) => rmsNorm(a, w), [leaf(shape, 31), leaf([dim], 32)]);
    });
  }

  it('gradient through a non-contiguous input', () => {
    gradcheck((a, w) => rmsNorm(transpose(a), w, { eps: 1e-3 }), [leaf([3, 6], 33), leaf([3], 34)]);
  });
});

describe('layerNorm', () => {
  it('matches torch layer_norm', () => {
    // torch.nn.functional.layer_norm(x, (5,), weight, bias, 1e-5) in float32.
    const torchOut = [
      0.26861298084259033, 1.702188491821289, 3.427004337310791, 0.4459853768348694, 0.39270082116127014,
      0.39458203315734863, -0.9866947531700134, -3.301917552947998, 0.38745903968811035, 0.5083651542663574,
    ];
    assertClose(layerNorm(x, weight, bias).toArray(), torchOut, 1e-6, 1e-6);
  });

  it('normalises without affine parameters', () => {
    const y = layerNorm(tensor([1, 2, 3], undefined, { dtype: 'f64' }), null, null, { eps: 0 });
    const s = Math.sqrt(2 / 3);
    assertClose(y.toArray(), [-1 / s, 0, 1 / s], 1e-14);
  });

  it('checks the parameter shapes', () => {
    assert.throws(() => layerNorm(x, tensor([1, 2])), ShapeError);
    assert.throws(() => layerNorm(x, weight, tensor([[1, 2, 3, 4, 5]])), ShapeError);
  });

  for (const shape of [
    [4, 5],
    [3, 1],
    [2, 3, 7],
  ]) {
    it(`gradient for x, weight and bias, [${shape}]`, () => {
      const dim = shape[shape.length - 1];
      gradcheck((a, w, b) => layerNorm(a, w, b), [leaf(shape, 41), leaf([dim], 42), leaf([dim], 43)]);
    });
  }

  it('gradient without weight or bias, and with only a bias', () => {
    gradcheck((a) => layerNorm(a), [leaf([3, 6], 44)]);
    gradcheck((a, b) => layerNorm(a, null, b), [leaf([3, 6], 45), leaf([6], 46)]);
  });

  it('gradient through a non-contiguous input', () => {
    gradcheck(
      (a, w, b) => layerNorm(slice(transpose(a), 1, 0, 5, 2), w, b),
      [leaf([5, 4], 47), leaf([3], 48), leaf([3], 49)],
    );
  });
});
