import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadNative } from '../../src/backends/native/loader.js';
import type { SvdJob } from '../../src/backends/ts/svd.js';
import { svdBatchTs } from '../../src/backends/ts/svd.js';
import { assertClose } from '../helpers/gradcheck.js';
import { values } from './cases.js';

const { addon } = loadNative();

/** Jobs for the given shapes (seeded normal entries), with vectors when asked. */
function jobs(shapes: [number, number][], vectors: boolean, full = false): SvdJob[] {
  return shapes.map(([m, n], i) => {
    const k = Math.min(m, n);
    return {
      a: values('f64', m * n, 500 + i) as Float64Array,
      m,
      n,
      full,
      s: new Float64Array(k),
      u: vectors ? new Float64Array(m * (full ? m : k)) : null,
      vt: vectors ? new Float64Array((full ? n : k) * n) : null,
    };
  });
}

const outputs = (js: SvdJob[]) => js.flatMap((j) => [j.s, j.u ?? [], j.vt ?? []].map((x) => Array.from(x)));

describe('native svdBatch', { skip: addon ? false : 'native addon not built' }, () => {
  // Sizes past one compact-WY block (32 reflectors) on every path: QR first (tall and wide), plain, full.
  const shapes: [number, number][] = [
    [200, 70],
    [70, 200],
    [120, 100],
    [100, 100],
  ];

  it('agrees with the TypeScript reference on matrices of several reflector blocks', () => {
    for (const full of [false, true]) {
      const native = jobs(shapes, true, full);
      const ts = jobs(shapes, true, full);
      assert.equal(addon?.svdBatch(native), -1);
      assert.equal(svdBatchTs(ts), -1);
      const got = outputs(native);
      const want = outputs(ts);
      got.forEach((x, i) => {
        assertClose(x, want[i], 1e-10, 0);
      });
    }
  });

  it('gives the same numbers on one thread as on several, alone or in a batch', () => {
    if (!addon) return;
    const threads = addon.threads();
    try {
      addon.setThreads(1);
      const one = jobs(shapes, true);
      addon.svdBatch(one);
      addon.setThreads(3);
      const several = jobs(shapes, true);
      addon.svdBatch(several);
      const alone = jobs(shapes, true).map((j) => {
        addon.svdBatch([j]);
        return j;
      });
      assert.deepEqual(outputs(several), outputs(one));
      assert.deepEqual(outputs(alone), outputs(one));
    } finally {
      addon.setThreads(threads);
    }
  });

  it('rejects short outputs with a RangeError', () => {
    const [job] = jobs([[5, 4]], true);
    assert.throws(() => addon?.svdBatch([{ ...job, s: new Float64Array(3) }]), RangeError);
    assert.throws(() => addon?.svdBatch([{ ...job, u: new Float64Array(19) }]), RangeError);
    assert.throws(() => addon?.svdBatch([{ ...job, vt: null }]), TypeError);
  });
});
