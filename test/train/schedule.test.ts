import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OptimizerError } from '../../src/train/optim/optimizer.js';
import { constantSchedule, cosineSchedule, type LrSchedule, linearSchedule } from '../../src/train/schedule.js';
import { assertClose } from '../helpers/gradcheck.js';
import { loadGolden } from './optim-helpers.js';

const values = (schedule: LrSchedule, steps: number[]) => steps.map(schedule);

describe('LR schedules', () => {
  it('cosine: linear warmup, then a half cosine from 1 to 0', () => {
    const schedule = cosineSchedule({ warmupSteps: 4, totalSteps: 12 });
    // Steps 4, 6, 8, 10, 12 are progress 0, 1/4, 1/2, 3/4, 1 of the decay.
    const c = Math.SQRT1_2;
    assertClose(
      values(schedule, [0, 1, 2, 4, 6, 8, 10, 12]),
      [0, 0.25, 0.5, 1, (1 + c) / 2, 0.5, (1 - c) / 2, 0],
      1e-15,
    );
  });
  it('cosine with minLrRatio decays to that ratio instead of 0', () => {
    const schedule = cosineSchedule({ warmupSteps: 4, totalSteps: 12, minLrRatio: 0.1 });
    assertClose(values(schedule, [2, 4, 8, 12]), [0.5, 1, 0.55, 0.1], 1e-15);
  });
  it('linear: warmup, then linear decay to 0 at totalSteps and 0 after', () => {
    const schedule = linearSchedule({ warmupSteps: 2, totalSteps: 10 });
    assertClose(values(schedule, [0, 1, 2, 6, 10, 15]), [0, 0.5, 1, 0.5, 0, 0], 1e-15);
    assertClose(values(linearSchedule({ totalSteps: 10, minLrRatio: 0.2 }), [0, 5, 10, 20]), [1, 0.6, 0.2, 0.2], 1e-15);
  });
  it('constant: warmup, then 1', () => {
    assert.deepEqual(values(constantSchedule({ warmupSteps: 4 }), [0, 1, 3, 4, 100]), [0, 0.25, 0.75, 1, 1]);
    assert.deepEqual(values(constantSchedule(), [0, 7]), [1, 1]);
  });
  it("match transformers' schedules", () => {
    const golden = loadGolden().schedules;
    const ours: Record<string, LrSchedule> = {
      cosine: cosineSchedule({ warmupSteps: 3, totalSteps: 20 }),
      cosine_min: cosineSchedule({ warmupSteps: 3, totalSteps: 20, minLrRatio: 0.1 }),
      cosine_cycles: cosineSchedule({ totalSteps: 10, cycles: 1.5 }),
      linear: linearSchedule({ warmupSteps: 3, totalSteps: 20 }),
      constant: constantSchedule({ warmupSteps: 3 }),
    };
    for (const [name, expected] of Object.entries(golden)) {
      assertClose(
        expected.map((_, step) => ours[name](step)),
        expected,
        1e-15,
        1e-15,
      );
    }
  });
  it('rejects inconsistent options', () => {
    assert.throws(() => cosineSchedule({ warmupSteps: 10, totalSteps: 5 }), OptimizerError);
    assert.throws(() => linearSchedule({ totalSteps: 5, minLrRatio: 2 }), OptimizerError);
    assert.throws(() => constantSchedule({ warmupSteps: -1 }), OptimizerError);
  });
});
