import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tensor, zeros } from '../../src/engine/create.js';
import { DTypeError } from '../../src/engine/errors.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { Linear } from '../../src/nn/linear.js';
import { reshape, slice } from '../../src/ops/views.js';
import {
  ADAMW_DEFAULTS,
  type AdamHyper,
  type AdamState,
  AdamW,
  adamDelta,
  checkAdamHyper,
  decoupledDecay,
  initAdamState,
} from '../../src/train/optim/adamw.js';
import {
  decayGroups,
  Optimizer,
  OptimizerError,
  type OptimizerStateDict,
  type ParamGroup,
  updateInPlace,
} from '../../src/train/optim/optimizer.js';
import { SGD } from '../../src/train/optim/sgd.js';
import { assertClose } from '../helpers/gradcheck.js';
import { type AnyOptimizer, loadGolden, setUp, trainStep } from './optim-helpers.js';

const golden = loadGolden();

/** The state dict as it would come back from disk: the JSON part through JSON, the buffers copied. */
function throughDisk(dict: OptimizerStateDict): OptimizerStateDict {
  const { buffers, ...json } = dict;
  const copies = Object.fromEntries(Object.entries(buffers).map(([k, b]) => [k, b.clone()]));
  return { ...JSON.parse(JSON.stringify(json)), buffers: copies };
}

function snapshot(params: Tensor[]): Float32Array[] {
  return params.map((p) => Float32Array.from(p.floatData()));
}

describe('optimizer state dicts', () => {
  for (const name of ['adamw', 'adamw_amsgrad', 'sgd_nesterov', 'sgd_dampening']) {
    it(`${name}: save at step 10, load into a new optimiser, continue: bit-identical to an uninterrupted run`, () => {
      const run = golden.runs[name];
      const straight = setUp(golden, run);
      for (let step = 0; step < 20; step++)
        trainStep(golden, straight.params, straight.optimizer, straight.schedule, step);

      const first = setUp(golden, run);
      for (let step = 0; step < 10; step++) trainStep(golden, first.params, first.optimizer, first.schedule, step);
      const saved = throughDisk(first.optimizer.stateDict());
      const weights = snapshot(first.params);

      const resumed = setUp(golden, run);
      resumed.params.forEach((p, i) => {
        (p.dataSync() as Float32Array).set(weights[i]);
      });
      resumed.optimizer.loadStateDict(saved);
      for (let step = 10; step < 20; step++)
        trainStep(golden, resumed.params, resumed.optimizer, resumed.schedule, step);
      assert.deepEqual(snapshot(resumed.params), snapshot(straight.params));
    });
  }
  it('is a snapshot that later steps do not change, with buffers keyed by parameter index', () => {
    const { params, optimizer, schedule } = setUp(golden, golden.runs.adamw);
    trainStep(golden, params, optimizer, schedule, 0);
    const dict = optimizer.stateDict();
    assert.deepEqual(Object.keys(dict.buffers).sort(), [
      '0.expAvg',
      '0.expAvgSq',
      '1.expAvg',
      '1.expAvgSq',
      '2.expAvg',
      '2.expAvgSq',
      '3.expAvg',
      '3.expAvgSq',
    ]);
    assert.deepEqual(dict.state[0], { step: 1, maxExpAvgSq: null });
    const before = dict.buffers['0.expAvg'].toArray();
    trainStep(golden, params, optimizer, schedule, 1);
    assert.deepEqual(dict.buffers['0.expAvg'].toArray(), before);
    assert.equal(dict.groups[0].lr, golden.runs.adamw.lr[0][0]);
  });
  it('records no state for parameters that never had a gradient', () => {
    const a = zeros([2], { requiresGrad: true });
    const b = zeros([2], { requiresGrad: true });
    const optimizer = new SGD([a, b], { momentum: 0.9 });
    a.grad = tensor([1, 2]);
    optimizer.step();
    const dict = optimizer.stateDict();
    assert.deepEqual(dict.state, [{ step: 1 }, null]);
    assert.deepEqual(Object.keys(dict.buffers), ['0.momentumBuffer']);
  });
  it('restores hyperparameters, including an lr changed by a schedule', () => {
    const { params, optimizer, schedule } = setUp(golden, golden.runs.sgd_momentum);
    for (let step = 0; step < 5; step++) trainStep(golden, params, optimizer, schedule, step);
    const other = setUp(golden, golden.runs.sgd_momentum).optimizer;
    other.loadStateDict(optimizer.stateDict());
    assert.deepEqual(
      other.groups.map((g) => [g.lr, g.baseLr, g.weightDecay]),
      optimizer.groups.map((g) => [g.lr, g.baseLr, g.weightDecay]),
    );
  });
  it('rejects a state dict that does not fit, and leaves the optimiser unchanged', () => {
    const { params, optimizer, schedule } = setUp(golden, golden.runs.adamw);
    trainStep(golden, params, optimizer, schedule, 0);
    const good = optimizer.stateDict();
    const sgd = setUp(golden, golden.runs.sgd_momentum).optimizer;
    assert.throws(() => optimizer.loadStateDict(sgd.stateDict()), /state dict of a SGD loaded into a AdamW/);
    const shortBuffer = { ...good, buffers: { ...good.buffers, '2.expAvg': zeros([3]) } };
    const fresh: AnyOptimizer = setUp(golden, golden.runs.adamw).optimizer;
    assert.throws(() => fresh.loadStateDict(shortBuffer), OptimizerError);
    assert.deepEqual(fresh.stateDict().state, [null, null, null, null]);
    const oneGroup = new AdamW([zeros([4, 8], { requiresGrad: true })]);
    assert.throws(() => oneGroup.loadStateDict(good), /2 parameter groups, the optimiser 1/);
  });
  it('checks parameter names when both sides have them', () => {
    const w = zeros([2, 2], { requiresGrad: true });
    const saved = new AdamW(new Map([['a.weight', w]])).stateDict();
    const renamed = new AdamW(new Map([['b.weight', zeros([2, 2], { requiresGrad: true })]]));
    assert.throws(() => renamed.loadStateDict(saved), /different parameters/);
  });
});

describe('optimizer construction and steps', () => {
  it('skips parameters without a gradient and zeroGrad drops gradients', () => {
    const a = tensor([1, 2], undefined, { requiresGrad: true });
    const b = tensor([3, 4], undefined, { requiresGrad: true });
    const optimizer = new SGD([a, b], { lr: 0.5 });
    a.grad = tensor([1, 1]);
    optimizer.step();
    assert.deepEqual(a.toArray(), [0.5, 1.5]);
    assert.deepEqual(b.toArray(), [3, 4]);
    optimizer.zeroGrad();
    assert.equal(a.grad, null);
  });
  it('AdamW: the first step moves every element by lr (bias-corrected m/√v = ±1)', () => {
    const p = tensor([1, -2, 3], undefined, { requiresGrad: true });
    const optimizer = new AdamW([p], { lr: 0.1, weightDecay: 0 });
    p.grad = tensor([0.5, -3, 1e-3]);
    optimizer.step();
    assertClose(p.toArray(), [0.9, -1.9, 2.9], 1e-6);
  });
  it('setLrFactor scales every group from its own base lr', () => {
    const optimizer = new AdamW([
      { params: [zeros([1], { requiresGrad: true })], lr: 0.1 },
      { params: [zeros([1], { requiresGrad: true })] },
    ]);
    optimizer.setLrFactor(0.5);
    assert.deepEqual(
      optimizer.groups.map((g) => g.lr),
      [0.05, 0.0005],
    );
  });
  it('rejects bad hyperparameters, shared parameters, non-f32 parameters and empty parameter lists', () => {
    const p = zeros([2], { requiresGrad: true });
    assert.throws(() => new AdamW([p], { lr: -1 }), OptimizerError);
    assert.throws(() => new AdamW([p], { betas: [1, 0.999] }), OptimizerError);
    assert.throws(() => new SGD([p], { nesterov: true }), /Nesterov/);
    assert.throws(() => new SGD([{ params: [p] }, { params: [p] }]), /more than one group/);
    assert.throws(() => new SGD([zeros([2], { dtype: 'f64', requiresGrad: true })]), DTypeError);
    assert.throws(() => new SGD([]), /no parameters/);
    assert.throws(() => new SGD([{ params: [p], weight_decay: 0.1 } as never]), /unknown option 'weight_decay'/);
  });
  it('rejects a gradient of the wrong shape', () => {
    const p = zeros([2], { requiresGrad: true });
    const optimizer = new SGD([p]);
    p.grad = zeros([3]);
    assert.throws(() => optimizer.step(), OptimizerError);
  });
});

describe('decayGroups', () => {
  it('puts norms, biases, embeddings and 1-D parameters in a no-decay group', () => {
    const named = new Map<string, Tensor>([
      ['model.embed_tokens.weight', zeros([10, 4], { requiresGrad: true })],
      ['model.layers.0.input_layernorm.weight', zeros([4], { requiresGrad: true })],
      ['model.layers.0.self_attn.q_proj.weight', zeros([4, 4], { requiresGrad: true })],
      ['model.layers.0.self_attn.q_proj.bias', zeros([4], { requiresGrad: true })],
      ['model.layers.0.mlp.scale', zeros([4], { requiresGrad: true })],
      ['model.norm.weight', zeros([4], { requiresGrad: true })],
      ['model.frozen.weight', zeros([4, 4])],
      ['lm_head.weight', zeros([10, 4], { requiresGrad: true })],
    ]);
    const [decayed, undecayed] = decayGroups(named, { weightDecay: 0.1 });
    assert.equal(decayed.weightDecay, 0.1);
    assert.equal(undecayed.weightDecay, 0);
    assert.deepEqual(
      [...(decayed.params as Map<string, Tensor>).keys()],
      ['model.layers.0.self_attn.q_proj.weight', 'lm_head.weight'],
    );
    assert.deepEqual(
      [...(undecayed.params as Map<string, Tensor>).keys()],
      [
        'model.embed_tokens.weight',
        'model.layers.0.input_layernorm.weight',
        'model.layers.0.self_attn.q_proj.bias',
        'model.layers.0.mlp.scale',
        'model.norm.weight',
      ],
    );
  });
  it('takes a module and a custom rule, and feeds an optimiser directly', () => {
    const layer = new Linear(3, 2, { bias: true });
    const [decayed, undecayed] = decayGroups(layer, { noDecay: (name) => name === 'weight' });
    assert.deepEqual([...(decayed.params as Map<string, Tensor>).keys()], ['bias']);
    assert.deepEqual([...(undecayed.params as Map<string, Tensor>).keys()], ['weight']);
    const optimizer = new AdamW(decayGroups(layer));
    assert.deepEqual(
      optimizer.groups.map((g) => [g.names, g.weightDecay]),
      [
        [['weight'], 0.01],
        [['bias'], 0],
      ],
    );
  });
});

/** The shape of a GaLore-style subclass: Adam on a projected gradient (here: the first `rows` rows) reusing adamDelta. */
class FirstRowsAdam extends Optimizer<AdamHyper, AdamState> {
  constructor(
    params: Tensor[],
    readonly rows: number,
  ) {
    super(params, { ...ADAMW_DEFAULTS, weightDecay: 0 });
  }
  protected override checkHyper(hyper: AdamHyper): void {
    checkAdamHyper(hyper);
  }
  protected override initState(param: Tensor): AdamState {
    return initAdamState(this.rows * param.shape[1], false);
  }
  protected override updateParam(param: Tensor, grad: Tensor, state: AdamState, group: ParamGroup<AdamHyper>): void {
    const n = state.expAvg.size;
    const delta = zeros([n]);
    decoupledDecay(param, group.lr, group.weightDecay);
    adamDelta(reshape(slice(grad, 0, 0, this.rows), [n]), state, group, delta);
    // The first rows of a contiguous parameter are a contiguous view of it: adding into it updates the parameter.
    updateInPlace(slice(param, 0, 0, this.rows), 'add', delta);
  }
}

describe('subclassing Optimizer with projected state', () => {
  it('reuses AdamW math on a subspace, with smaller state that saves and loads', () => {
    const full = tensor([1, 2, 3, 4, 5, 6], [3, 2], { requiresGrad: true });
    const top = tensor([1, 2], [1, 2], { requiresGrad: true });
    const projected = new FirstRowsAdam([full], 1);
    const reference = new AdamW([top], { weightDecay: 0 });
    for (let step = 0; step < 3; step++) {
      full.grad = tensor([0.5 * step - 1, 2, 7, 8, 9, 10], [3, 2]);
      top.grad = tensor([0.5 * step - 1, 2], [1, 2]);
      projected.step();
      reference.step();
    }
    assert.deepEqual(full.toArray().slice(0, 2), top.toArray());
    assert.deepEqual(full.toArray().slice(2), [3, 4, 5, 6]);
    const dict = projected.stateDict();
    assert.equal(dict.buffers['0.expAvg'].size, 2);
    const again = new FirstRowsAdam([full], 1);
    again.loadStateDict(dict);
    assert.deepEqual(again.stateDict(), dict);
    assert.throws(() => new FirstRowsAdam([full], 2).loadStateDict(dict), /buffer of 4 values/);
  });
});
