import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ones } from '../../src/engine/create.js';
import { ShapeError } from '../../src/engine/errors.js';
import { Rng } from '../../src/engine/rng.js';
import { Dropout } from '../../src/nn/dropout.js';

describe('Dropout', () => {
  it('drops and rescales while training, reproducibly for a seed, and is the identity in evaluation', () => {
    const x = ones([1000]);
    const drawn = new Dropout(0.25, { rng: new Rng(3) }).forward(x).toArray();
    assert.deepEqual(new Dropout(0.25, { rng: new Rng(3) }).forward(x).toArray(), drawn);
    assert.ok(drawn.every((v) => v === 0 || Math.abs(v - 4 / 3) < 1e-6));
    const dropped = drawn.filter((v) => v === 0).length;
    assert.ok(dropped > 200 && dropped < 300, `dropped ${dropped} of 1000`);
    const d = new Dropout(0.25).eval();
    assert.equal(d.forward(x), x);
    assert.equal(d.probability, 0.25);
    assert.throws(() => new Dropout(1), ShapeError);
  });
});
