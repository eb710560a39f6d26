import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TokenBatcher } from '../../src/train/batches.js';
import { TrainError } from '../../src/train/loop.js';

/** A stream where each token is its position, so a window's start can be read off its first input. */
const counting = (n: number) => Int32Array.from({ length: n }, (_, i) => i);

function rows(t: { shape: readonly number[]; toArray(): number[] }): number[][] {
  const [b, len] = t.shape;
  const flat = t.toArray();
  return Array.from({ length: b }, (_, r) => flat.slice(r * len, (r + 1) * len));
}

describe('TokenBatcher', () => {
  it('yields [B, T] i32 inputs and the same windows shifted by one as targets', () => {
    const batcher = new TokenBatcher(counting(100), { batchSize: 3, seqlen: 8, seed: 1 });
    const { inputs, targets } = batcher.next();
    assert.deepEqual(inputs.shape, [3, 8]);
    assert.deepEqual(targets.shape, [3, 8]);
    assert.equal(inputs.dtype, 'i32');
    rows(inputs).forEach((row, r) => {
      assert.equal(row[0] % 8, 0, 'windows start on multiples of seqlen');
      assert.deepEqual(
        row,
        Array.from({ length: 8 }, (_, i) => row[0] + i),
      );
      assert.deepEqual(
        rows(targets)[r],
        row.map((x) => x + 1),
      );
    });
  });

  it('an epoch visits every non-overlapping window once, in a seeded order; batches run on into the next epoch', () => {
    // (50 - 1) / 8 → 6 windows; batches of 4 straddle epochs.
    const batcher = new TokenBatcher(counting(50), { batchSize: 4, seqlen: 8, seed: 7 });
    assert.equal(batcher.windows, 6);
    const starts = [0, 1, 2].flatMap(() => rows(batcher.next().inputs).map((r) => r[0]));
    const epoch0 = starts.slice(0, 6);
    const epoch1 = starts.slice(6, 12);
    assert.deepEqual(
      [...epoch0].sort((a, b) => a - b),
      [0, 8, 16, 24, 32, 40],
    );
    assert.deepEqual(
      [...epoch1].sort((a, b) => a - b),
      [0, 8, 16, 24, 32, 40],
    );
    assert.notDeepEqual(epoch0, epoch1, 'each epoch is reshuffled');
    assert.equal((batcher.getState() as { epoch: number }).epoch, 1);
  });

  it('the same seed gives the same batches, another seed another order', () => {
    const take = (seed: number) => {
      const b = new TokenBatcher(counting(400), { batchSize: 2, seqlen: 16, seed });
      return [0, 1, 2].flatMap(() => b.next().inputs.toArray());
    };
    assert.deepEqual(take(3), take(3));
    assert.notDeepEqual(take(3), take(4));
  });

  it('a saved state, restored (through JSON) into a new batcher, continues with exactly the same batches', () => {
    const options = { batchSize: 3, seqlen: 4, seed: 5 };
    const first = new TokenBatcher(counting(60), options);
    for (let i = 0; i < 5; i++) first.next(); // crosses into the second epoch (14 windows)
    const saved = JSON.parse(JSON.stringify(first.getState()));
    const expected = Array.from({ length: 8 }, () => first.next().inputs.toArray());
    const second = new TokenBatcher(counting(60), options);
    second.setState(saved);
    assert.deepEqual(
      Array.from({ length: 8 }, () => second.next().inputs.toArray()),
      expected,
    );
  });

  it('rejects streams too short for one window and bad sizes', () => {
    assert.throws(() => new TokenBatcher(counting(16), { batchSize: 1, seqlen: 16 }), TrainError);
    assert.throws(() => new TokenBatcher(counting(100), { batchSize: 0, seqlen: 16 }), TrainError);
    assert.throws(() => new TokenBatcher(counting(100), { batchSize: 2, seqlen: 1.5 }), TrainError);
  });
});
