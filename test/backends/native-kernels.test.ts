import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadNative } from '../../src/backends/native/loader.js';

const skip = loadNative().addon ? false : 'native addon not available';

// The native kernels' agreement with their TypeScript twins is test/backends/backend-ops.test.ts (rows in cases.ts).
describe('native addon argument checks', { skip }, () => {
  it('the raw addon throws instead of reading past an array', () => {
    const addon = loadNative().addon as NonNullable<ReturnType<typeof loadNative>['addon']>;
    const src = new Float32Array(10);
    const f64 = (...v: number[]) => Float64Array.from(v);
    assert.throws(() => addon.copyStrided(src, new Float32Array(12), f64(3, 4), f64(4, 1), 0), RangeError);
    assert.throws(() => addon.copyStrided(src, new Float32Array(4), f64(2, 2), f64(-2, 1), 1), RangeError);
    assert.throws(() => addon.copyStrided(src, new Float32Array(2), f64(2), f64(1, 1), 0), RangeError);
    const rows = Int32Array.of(0, 8);
    assert.throws(() => addon.rope(src, src, 2, 4, src, rows, 1, src, rows, 1, false), RangeError);
    assert.throws(() => addon.rmsNormBackward(src, src, new Float64Array(2), src, src, null, 2, 6), RangeError);
    assert.throws(() => addon.softmaxBackwardRows(src, src, new Float32Array(4), 2, 5), RangeError);
  });
});
