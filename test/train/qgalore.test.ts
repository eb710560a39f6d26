import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { randn, tensor } from '../../src/engine/create.js';
import { dequantize, quantize } from '../../src/engine/quant/quantized-tensor.js';
import { Rng } from '../../src/engine/rng.js';
import { Tensor } from '../../src/engine/tensor.js';
import { withOutputDir } from '../../src/io/output-dir.js';
import { Sequential } from '../../src/nn/containers.js';
import { Linear } from '../../src/nn/linear.js';
import { QuantLinear } from '../../src/nn/quant-linear.js';
import { stateDict } from '../../src/nn/state-dict.js';
import { mul, sub } from '../../src/ops/elementwise.js';
import { matmul } from '../../src/ops/matmul.js';
import { mean } from '../../src/ops/reduce.js';
import { loadTrainingCheckpoint, saveTrainingCheckpoint } from '../../src/train/checkpoint.js';
import { AdamW } from '../../src/train/optim/adamw.js';
import { OptimizerError } from '../../src/train/optim/optimizer.js';
import { type LazySubspace, QGaLoreAdamW, type QGaLoreOptions, qgaloreGroups } from '../../src/train/optim/qgalore.js';

const work = mkdtempSync(join(tmpdir(), 'lithe-qgalore-'));
after(() => rmSync(work, { recursive: true, force: true }));

const model = (seed: number) => {
  const rng = new Rng(seed);
  return new Sequential(
    new Linear(32, 48, { bias: true, rng, initStd: 0.2 }),
    new Linear(48, 8, { rng, initStd: 0.2 }),
  );
};

/** A regression target from a fixed random teacher, so that training has something to learn. */
function regression(seed: number) {
  const rng = new Rng(seed);
  const teacher = randn([32, 8], { rng, std: 0.3 });
  return () => {
    const x = randn([16, 32], { rng });
    return { x, y: matmul(x, teacher) };
  };
}

function train(m: Sequential, o: QGaLoreAdamW | AdamW, steps: number, batches: () => { x: Tensor; y: Tensor }) {
  const losses: number[] = [];
  for (let step = 0; step < steps; step++) {
    const { x, y } = batches();
    const diff = sub(m.forward(x), y);
    const loss = mean(mul(diff, diff));
    loss.backward();
    o.step();
    o.zeroGrad();
    losses.push(loss.item());
  }
  return losses;
}

const prepared = (seed: number, options: QGaLoreOptions = {}, rank = 4, updateProjGap = 5) => {
  const m = model(seed);
  const o = new QGaLoreAdamW(qgaloreGroups(m, { targets: '*.weight', rank, updateProjGap, groupSize: 16 }), {
    lr: 3e-2,
    ...options,
  });
  return { m, o };
};

describe('QGaLoreAdamW', () => {
  it('trains int8 weights through int4 projections, holding no f32 copy of them', () => {
    const { m, o } = prepared(0);
    assert.deepEqual([...m.namedParameters().keys()], ['0.bias']);
    assert.ok([...m.namedModules()].slice(1).every(([, layer]) => layer instanceof QuantLinear));
    const losses = train(m, o, 60, regression(1));
    const first = losses.slice(0, 5).reduce((a, b) => a + b) / 5;
    const last = losses.slice(-5).reduce((a, b) => a + b) / 5;
    assert.ok(last < 0.5 * first, `loss ${first.toFixed(3)} -> ${last.toFixed(3)}`);
    // The projections are int4 codes, two a byte: [48, 32] projects its right side, Q: [4, 32].
    const state = o.stateDict();
    assert.equal(state.buffers['0.rightCodes'].dtype, 'u8');
    assert.equal(state.buffers['0.rightCodes'].size, (4 * 32) / 2);
    assert.equal(state.buffers['0.leftCodes'], undefined);
    // The [8, 48] weight is wide: its left side, P: [8, 4].
    assert.equal(state.buffers['1.leftCodes'].size, (8 * 4) / 2);
  });

  it('stochastic rounding keeps updates smaller than a quantisation step; rounding to nearest loses them', () => {
    const codes = (options: QGaLoreOptions) => {
      const { m, o } = prepared(0, { lr: 1e-3, ...options });
      const before = stateDict(m).get('0.weight_codes')!.toArray();
      train(m, o, 3, regression(1));
      const after = stateDict(m).get('0.weight_codes')!.toArray();
      return before.filter((c, i) => c !== after[i]).length;
    };
    assert.equal(codes({ stochasticRounding: false }), 0);
    assert.ok(codes({ stochasticRounding: true }) > 0);
  });

  it('doubles the refresh gap once the last `window` |cos| values average at least cosThreshold', () => {
    // A constant gradient keeps the subspace still (|cos| = 1): refreshes at 0, 1, 2 (gap -> 2), 4 (-> 4), 8, 16.
    const svds = (lazy: QGaLoreOptions['lazy']) => {
      const { m, o } = prepared(0, { lazy }, 4, 1);
      const g = [...m.namedModules()].slice(1).map(([, layer]) => (layer as QuantLinear).weightGrad);
      const rng = new Rng(5);
      const grads = g.map((sink) => randn([...sink.shape], { rng }));
      for (let step = 0; step < 20; step++) {
        g.forEach((sink, i) => {
          sink.grad = grads[i];
        });
        o.step();
      }
      return o.svdCount;
    };
    assert.equal(svds({ cosThreshold: 0.4, window: 2 }), 2 * 6);
    assert.equal(svds({ cosThreshold: 1.5, window: 2 }), 2 * 20);
    assert.equal(svds(null), 2 * 20);
  });

  it('saves and resumes bit for bit, codes, projections and rounding generator included', async () => {
    const batches = Array.from({ length: 20 }, regression(4));
    let k = 0;
    const next = () => batches[k++];
    // Gap 1 and a window of 2 with threshold 0: the gap doubles at steps 2, 4, 8 and 16, so the checkpoint at step 9
    // holds a moved gap, a full window and a previous top vector.
    const lazy = { lazy: { cosThreshold: 0, window: 2 } };
    const straight = prepared(1, lazy, 4, 1);
    train(straight.m, straight.o, 20, next);

    k = 0;
    const first = prepared(1, lazy, 4, 1);
    train(first.m, first.o, 9, next);
    const out = join(work, 'run');
    await withOutputDir(out, { kind: 'train-run' }, (dir) =>
      saveTrainingCheckpoint(dir, 'checkpoint', first.m, first.o, { step: 9, elapsedSeconds: 0, batcher: null }),
    );
    const resumed = prepared(7, lazy, 4, 1);
    assert.equal(loadTrainingCheckpoint(join(out, 'checkpoint'), resumed.m, resumed.o).step, 9);
    train(resumed.m, resumed.o, 11, next);
    const values = (m: Sequential) => [...stateDict(m).values()].map((t) => t.toArray());
    assert.deepEqual(values(resumed.m), values(straight.m));
    assert.equal(resumed.o.svdCount, straight.o.svdCount);
    assert.equal(straight.o.svdCount, 2 * 6);
  });

  it('refuses quantised weights in other optimisers and weights of other bits', () => {
    const m = model(0);
    const groups = qgaloreGroups(m, { targets: '*.weight' });
    assert.throws(() => new AdamW(groups[0].params), /cannot train a quantised weight/);
    assert.throws(() => new QGaLoreAdamW([{ ...groups[0], weightBits: 4 }]), /int8 weight in a group of 4-bit weights/);
    assert.throws(() => qgaloreGroups(model(0), { targets: 'nothing' }), OptimizerError);
    const pruned = model(0);
    const first = [...pruned.namedModules()][1][1] as Linear;
    first.setMask(
      new Tensor(
        Uint8Array.from({ length: 48 * 32 }, (_, i) => i % 2),
        [48, 32],
        'bool',
      ),
    );
    assert.throws(() => qgaloreGroups(pruned, { targets: '*.weight' }), /0 is pruned/);
    assert.throws(() => new QGaLoreAdamW(groups, { lazy: { cosThreshold: 0.4, window: 0 } }), /invalid lazy/);
  });
});

/** tools/make_qgalore_golden.py's file: per case, the weight, the gradients and the reference's weights and SVDs. */
interface GoldenCase {
  shape: [number, number];
  rank: number;
  updateProjGap: number;
  weightDecay: number;
  lazy: LazySubspace | null;
  init: number[];
  grads: number[][];
  snapshots: Record<string, { weight: number[]; svds: number }>;
}
const golden = JSON.parse(
  readFileSync(new URL('../../../test/golden/optim/qgalore.json', import.meta.url), 'utf8'),
) as {
  steps: number;
  groupSize: number;
  options: { lr: number; betas: [number, number]; eps: number; scale: number };
  cases: Record<string, GoldenCase>;
};

describe('QGaLoreAdamW against the PyTorch reference (tools/qgalore_reference.py), rounding to nearest', () => {
  for (const [name, c] of Object.entries(golden.cases)) {
    it(`${name}: the same SVDs, and the same int8 weights but for rare one-step rounding flips`, () => {
      const { groupSize, options } = golden;
      const layer = new QuantLinear(quantize(tensor(c.init, c.shape), 'int8', { groupSize }));
      const { lr, betas, eps, scale } = options;
      const group = { params: [layer.weightGrad], rank: c.rank, updateProjGap: c.updateProjGap, scale };
      const o = new QGaLoreAdamW([{ ...group, weightDecay: c.weightDecay, lazy: c.lazy, groupSize }], {
        lr,
        betas,
        eps,
        stochasticRounding: false,
      });
      for (let step = 1; step <= golden.steps; step++) {
        layer.weightGrad.grad = tensor(c.grads[step - 1], c.shape);
        o.step();
        const expected = c.snapshots[String(step)];
        if (!expected) continue;
        assert.equal(o.svdCount, expected.svds, `SVDs after step ${step}`);
        const actual = dequantize(layer.weight).floatData();
        // A weight whose update lands within f32 rounding of a code boundary may round the other way: one step.
        const step0 = Math.max(...layer.weight.scales);
        let flipped = 0;
        for (let i = 0; i < actual.length; i++) {
          const diff = Math.abs(actual[i] - expected.weight[i]);
          assert.ok(diff <= 1.01 * step0, `step ${step}, element ${i}: ${actual[i]} vs ${expected.weight[i]}`);
          if (diff > 1e-6) flipped++;
        }
        assert.ok(flipped <= 0.005 * actual.length, `step ${step}: ${flipped} of ${actual.length} weights differ`);
      }
    });
  }
});
