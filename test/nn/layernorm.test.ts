import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tensor } from '../../src/engine/create.js';
import { ShapeError } from '../../src/engine/errors.js';
import { LayerNorm, type LayerNormModuleOptions } from '../../src/nn/layernorm.js';
import { gradcheck, leaf } from '../helpers/gradcheck.js';
import { checkStep, loadNnGolden, loadParams } from '../helpers/nn-golden.js';

describe('LayerNorm matches torch.nn', () => {
  for (const golden of loadNnGolden('LayerNorm')) {
    it(golden.name, () => {
      const ln = new LayerNorm(golden.args[0] as number[], golden.options as LayerNormModuleOptions);
      loadParams(ln, golden);
      for (const step of golden.steps) checkStep(ln, step);
    });
  }
});

describe('LayerNorm', () => {
  it('names its parameters as torch and leaves them out as asked', () => {
    assert.deepEqual(
      [...new LayerNorm([2, 3]).namedParameters()].map(([n, t]) => [n, t.shape]),
      [
        ['weight', [2, 3]],
        ['bias', [2, 3]],
      ],
    );
    assert.deepEqual([...new LayerNorm(4, { bias: false }).namedParameters().keys()], ['weight']);
    assert.equal(new LayerNorm(4, { elementwiseAffine: false }).namedParameters().size, 0);
  });

  it('passes gradients over several normalised axes to input, weight and bias (f64 gradcheck)', () => {
    const ln = new LayerNorm([2, 3], { dtype: 'f64' });
    const { weight, bias } = ln;
    assert.ok(weight && bias);
    ln.setParameter('weight', leaf([2, 3], 1));
    ln.setParameter('bias', leaf([2, 3], 2));
    gradcheck((x) => ln.forward(x), [leaf([2, 2, 3], 3), weight, bias]);
  });

  it('rejects an input whose trailing axes differ', () => {
    const ln = new LayerNorm([2, 3]);
    assert.throws(() => ln.forward(tensor([1, 2, 3, 4, 5, 6], [3, 2])), ShapeError);
    assert.throws(() => ln.forward(tensor([1, 2, 3], [3])), ShapeError);
  });
});
