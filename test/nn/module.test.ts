import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Tensor } from '../../src/engine/tensor.js';
import { Linear } from '../../src/nn/linear.js';
import { Module, parameterMask } from '../../src/nn/module.js';

const boolMask = (values: number[], shape: number[]) => new Tensor(Uint8Array.from(values), shape, 'bool');

class Counter extends Module {
  readonly fc = this.addChild('fc', new Linear(2, 2, { init: false }));
  readonly running = this.addBuffer('running', new Tensor(new Float32Array(2), [2], 'f32'));
  readonly scratch = this.addBuffer('scratch', new Tensor(new Float32Array(1), [1], 'f32'), { persistent: false });
  forward(x: Tensor): Tensor {
    return this.fc.forward(x);
  }
}

describe('Module', () => {
  it('lists buffers by dotted name, with persistentOnly leaving out non-persistent ones', () => {
    const m = new Counter();
    assert.deepEqual([...m.namedBuffers().keys()], ['running', 'scratch']);
    assert.deepEqual([...m.namedBuffers({ persistentOnly: true }).keys()], ['running']);
    assert.deepEqual([...m.namedParameters().keys()], ['fc.weight']);
  });

  it('setParameter and setBuffer write into the existing tensors, keeping their identity', () => {
    const m = new Counter();
    const weight = m.fc.weight;
    m.setParameter('fc.weight', new Tensor(Float32Array.of(1, 2, 3, 4), [2, 2], 'f32'));
    assert.equal(m.fc.weight, weight);
    assert.deepEqual(weight.toArray(), [1, 2, 3, 4]);
    m.setBuffer('running', new Tensor(Float64Array.of(5, 6), [2], 'f64'));
    assert.deepEqual(m.running.toArray(), [5, 6]);
    assert.throws(() => m.setParameter('fc.weight', new Tensor(new Float32Array(2), [2], 'f32')), /shape/);
    assert.throws(() => m.setBuffer('nothing', m.running), /no buffer named 'nothing'/);
  });

  it('runs forward hooks until disposed, then restores the class forward', () => {
    const m = new Counter();
    m.setParameter('fc.weight', new Tensor(Float32Array.of(1, 0, 0, 1), [2, 2], 'f32'));
    const seen: number[][] = [];
    const hook = m.fc.registerForwardHook((_module, inputs, output) => {
      seen.push([...(inputs[0] as Tensor).toArray(), ...(output as Tensor).toArray()]);
    });
    m.forward(new Tensor(Float32Array.of(3, 4), [1, 2], 'f32'));
    hook.dispose();
    hook.dispose();
    m.forward(new Tensor(Float32Array.of(5, 6), [1, 2], 'f32'));
    assert.deepEqual(seen, [[3, 4, 3, 4]]);
    assert.equal(Object.hasOwn(m.fc, 'forward'), false);
  });
});

describe('Linear masks', () => {
  it('zeroes the masked weights, keeps them zero through setParameter, and registers the mask', () => {
    const fc = new Linear(2, 2, { init: false });
    fc.setParameter('weight', new Tensor(Float32Array.of(1, 2, 3, 4), [2, 2], 'f32'));
    const mask = boolMask([1, 0, 0, 1], [2, 2]);
    fc.setMask(mask);
    assert.deepEqual(fc.weight.toArray(), [1, 0, 0, 4]);
    assert.equal(fc.mask, mask);
    assert.equal(parameterMask(fc.weight), mask);
    assert.deepEqual([...fc.namedBuffers({ persistentOnly: true }).keys()], []);
    fc.setParameter('weight', new Tensor(Float32Array.of(5, 6, 7, 8), [2, 2], 'f32'));
    assert.deepEqual(fc.weight.toArray(), [5, 0, 0, 8]);
    fc.setMask(null);
    assert.equal(fc.mask, null);
    assert.equal(parameterMask(fc.weight), null);
    assert.throws(() => fc.setMask(boolMask([1, 0], [2])), /does not fit/);
  });
});
