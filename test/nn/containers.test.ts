import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tensor } from '../../src/engine/create.js';
import { ShapeError } from '../../src/engine/errors.js';
import { ModuleList, Sequential } from '../../src/nn/containers.js';
import { Dropout } from '../../src/nn/dropout.js';
import { LayerNorm } from '../../src/nn/layernorm.js';
import { Linear } from '../../src/nn/linear.js';
import { Module } from '../../src/nn/module.js';

class Block extends Module {
  readonly layers = this.addChild('layers', new ModuleList([new Linear(2, 2, { init: false }), new LayerNorm(2)]));
}

describe('ModuleList', () => {
  it('numbers its children so names read layers.1.weight, and indexes and iterates them', () => {
    const block = new Block();
    const extra = block.layers.append(new Linear(2, 3, { init: false, bias: true }));
    assert.deepEqual(
      [...block.namedParameters().keys()],
      ['layers.0.weight', 'layers.1.weight', 'layers.1.bias', 'layers.2.weight', 'layers.2.bias'],
    );
    assert.equal(block.layers.length, 3);
    assert.equal(block.layers.at(2), extra);
    assert.equal(block.layers.at(-1), extra);
    assert.deepEqual([...block.layers], [block.layers.at(0), block.layers.at(1), extra]);
    assert.throws(() => block.layers.at(3), ShapeError);
    block.eval();
    assert.ok([...block.layers].every((m) => !m.training));
  });
});

describe('Sequential', () => {
  it('chains its numbered children', () => {
    const first = new Linear(2, 2, { init: false, bias: true });
    first.setParameter('weight', tensor([1, 2, 3, 4], [2, 2]));
    first.setParameter('bias', tensor([1, -1], [2]));
    const second = new Linear(2, 1, { init: false });
    second.setParameter('weight', tensor([1, 1], [1, 2]));
    const seq = new Sequential(first, new Dropout(0.5), second).eval();
    assert.deepEqual([...seq.namedParameters().keys()], ['0.weight', '0.bias', '2.weight']);
    // [1, 1] -> [1+2+1, 3+4-1] = [4, 6] -> 10
    assert.deepEqual(seq.forward(tensor([1, 1], [1, 2])).toArray(), [10]);
    assert.equal(new Sequential().forward(first.weight), first.weight);
  });

  it('runs a child that replaceModule put in place, and indexes and iterates it', () => {
    const seq = new Sequential(new Linear(2, 2, { init: false }), new Linear(2, 1, { init: false }));
    const swapped = new Linear(2, 1, { init: false });
    swapped.setParameter('weight', tensor([1, 1], [1, 2]));
    seq.replaceModule('1', swapped);
    assert.equal(seq.at(-1), swapped);
    assert.deepEqual([...seq].at(1), swapped);
    seq.at(0).setParameter('weight', tensor([1, 0, 0, 1], [2, 2]));
    assert.deepEqual(seq.forward(tensor([2, 3], [1, 2])).toArray(), [5]);
  });
});
