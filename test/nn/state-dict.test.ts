import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DType } from '../../src/engine/dtype.js';
import { OperationAbortedError } from '../../src/engine/errors.js';
import { Tensor } from '../../src/engine/tensor.js';
import { rejectNonFinite } from '../../src/io/checkpoint.js';
import { Linear } from '../../src/nn/linear.js';
import { Module } from '../../src/nn/module.js';
import {
  loadStateDict,
  readState,
  StateDictError,
  type StateReader,
  stageStateDictAsync,
  stateDict,
} from '../../src/nn/state-dict.js';

const f32 = (values: number[], shape = [values.length]) => new Tensor(Float32Array.from(values), shape, 'f32');

class Net extends Module {
  readonly fc = this.addChild('fc', new Linear(2, 2, { bias: true, init: false }));
  readonly running = this.addBuffer('running', f32([0, 0]));
  readonly scratch = this.addBuffer('scratch', f32([7]), { persistent: false });
  forward(x: Tensor): Tensor {
    return this.fc.forward(x);
  }
}

/** A reader over an in-memory map, counting reads. */
function mapReader(tensors: Record<string, Tensor>): StateReader & { reads: number } {
  const reader = {
    reads: 0,
    names: Object.keys(tensors),
    shape: (name: string) => tensors[name].shape,
    dtype: (name: string): DType => tensors[name].dtype,
    read: (name: string) => {
      reader.reads += 1;
      return tensors[name];
    },
  };
  return reader;
}

const full = () => ({
  'fc.weight': f32([1, 2, 3, 4], [2, 2]),
  'fc.bias': f32([5, 6]),
  running: new Tensor(Float64Array.of(8, 9), [2], 'f64'),
});

describe('stateDict / loadStateDict', () => {
  it('the state is the parameters and the persistent buffers, not the non-persistent ones', () => {
    assert.deepEqual([...stateDict(new Net()).keys()], ['fc.weight', 'fc.bias', 'running']);
  });

  it('loads in place, converting dtypes, keeping every tensor object; masks are re-applied', () => {
    const net = new Net();
    const { weight } = net.fc;
    const { running } = net;
    net.fc.setMask(new Tensor(Uint8Array.of(1, 0, 1, 1), [2, 2], 'bool'));
    loadStateDict(net, mapReader(full()));
    assert.equal(net.fc.weight, weight);
    assert.equal(net.running, running);
    assert.deepEqual(weight.toArray(), [1, 0, 3, 4]);
    assert.deepEqual(running.toArray(), [8, 9]);
    assert.deepEqual(net.scratch.toArray(), [7]);
  });

  it('checks names, shapes, dtypes and values before it writes anything', () => {
    const cases: [Record<string, Tensor>, RegExp, object, string | undefined][] = [
      [{ ...full(), 'fc.bias': undefined as never }, /missing from the checkpoint/, {}, 'fc.bias'],
      [{ ...full(), extra: f32([1]) }, /holds tensors the model does not have: extra/, {}, undefined],
      [{ ...full(), 'fc.bias': f32([1, 2, 3]) }, /has shape \[3\], the model \[2\]/, {}, 'fc.bias'],
      [
        { ...full(), running: new Tensor(Int32Array.of(1, 2), [2], 'i32') },
        /is i32, which cannot load into f32/,
        {},
        'running',
      ],
      [
        { ...full(), 'fc.bias': f32([1, Number.NaN]) },
        /fc\.bias holds 1 NaN \/ Inf values/,
        { check: rejectNonFinite },
        undefined,
      ],
    ];
    for (const [tensors, message, options, tensor] of cases) {
      for (const name of Object.keys(tensors)) if (tensors[name] === undefined) delete tensors[name];
      const net = new Net();
      const before = [...stateDict(net)].map(([n, t]) => [n, t.toArray()]);
      assert.throws(
        () => loadStateDict(net, mapReader(tensors), options),
        (err: unknown) => err instanceof StateDictError && message.test(err.message) && err.tensor === tensor,
        String(message),
      );
      assert.deepEqual(
        [...stateDict(net)].map(([n, t]) => [n, t.toArray()]),
        before,
        'nothing changed',
      );
    }
  });

  it('non-strict loads what is there and leaves the rest; ignore skips names that are not state', () => {
    const net = new Net();
    loadStateDict(net, mapReader({ 'fc.bias': f32([5, 6]), other: f32([1]) }), { strict: false });
    assert.deepEqual(net.fc.bias?.toArray(), [5, 6]);
    assert.deepEqual(net.fc.weight.toArray(), [0, 0, 0, 0]);
    loadStateDict(net, mapReader({ ...full(), 'rotary.inv_freq': f32([1]) }), {
      ignore: (n) => n.endsWith('inv_freq'),
    });
    assert.deepEqual(net.fc.weight.toArray(), [1, 2, 3, 4]);
  });

  it('readState checks a plain spec table (as the optimiser state uses)', () => {
    const specs = new Map([['0.expAvg', { shape: [4], dtype: 'f32' as DType }]]);
    assert.deepEqual([...readState(specs, mapReader({ '0.expAvg': f32([1, 2, 3, 4]) })).keys()], ['0.expAvg']);
    assert.throws(() => readState(specs, mapReader({ '0.expAvg': f32([1, 2]) })), /has shape \[2\], the model \[4\]/);
  });

  it('the async form reports progress per tensor and stops between reads when aborted', async () => {
    const controller = new AbortController();
    const reader = mapReader(full());
    const seen: number[] = [];
    const onProgress = ({ done }: { done: number }) => {
      seen.push(done);
      if (done === 2) controller.abort();
    };
    await assert.rejects(
      stageStateDictAsync(new Net(), reader, { onProgress, signal: controller.signal }),
      OperationAbortedError,
    );
    assert.deepEqual(seen, [1, 2]);
    assert.equal(reader.reads, 2);
  });
});
