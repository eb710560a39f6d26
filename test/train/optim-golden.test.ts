import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertClose } from '../helpers/gradcheck.js';
import { loadGolden, setUp, trainStep } from './optim-helpers.js';

const golden = loadGolden();

describe('optimisers match torch step by step (clipping and a warmup-cosine LR included)', () => {
  for (const [name, run] of Object.entries(golden.runs)) {
    // SGD and the clipping norms reproduce torch's f32 rounding exactly; AdamW differs only where
    // torch's vectorised sqrt is 1 ulp off, so it is held to 1e-6 relative.
    const exact = run.optimizer === 'SGD';
    it(`${name} (${exact ? 'bit-exact' : 'to 1e-6 relative'})`, () => {
      const { params, optimizer, schedule } = setUp(golden, run);
      for (let step = 0; step < run.params.length; step++) {
        const norm = trainStep(golden, params, optimizer, schedule, step);
        assert.equal(norm, Math.fround(run.totalNorm[step]), `clipping norm at step ${step}`);
        assertClose(
          optimizer.groups.map((g) => g.lr),
          run.lr[step],
          0,
          1e-15,
        );
        params.forEach((p, i) => {
          const actual = p.floatData();
          const expected = Float32Array.from(run.params[step][i]);
          const where = `step ${step}, ${golden.names[i]}`;
          if (exact) assert.deepEqual(actual, expected, where);
          else {
            try {
              assertClose(actual, expected, 1e-7, 1e-6);
            } catch (e) {
              assert.fail(`${where}: ${(e as Error).message}`);
            }
          }
        });
      }
    });
  }
});
