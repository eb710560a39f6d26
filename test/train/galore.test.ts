import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { tensor } from '../../src/engine/create.js';
import { Rng } from '../../src/engine/rng.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { withOutputDir } from '../../src/io/output-dir.js';
import { Sequential } from '../../src/nn/containers.js';
import { Linear } from '../../src/nn/linear.js';
import { matmul } from '../../src/ops/matmul.js';
import { transpose } from '../../src/ops/views.js';
import { loadTrainingCheckpoint, saveTrainingCheckpoint } from '../../src/train/checkpoint.js';
import { AdamW } from '../../src/train/optim/adamw.js';
import {
  GaLoreAdamW,
  type GaLoreGroupSpec,
  type GaLoreOptions,
  galoreGroups,
  globMatcher,
  type ProjType,
} from '../../src/train/optim/galore.js';
import { OptimizerError } from '../../src/train/optim/optimizer.js';
import { assertClose } from '../helpers/gradcheck.js';

const work = mkdtempSync(join(tmpdir(), 'lithe-galore-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** tools/make_galore_golden.py's file: per case, the groups, stored inputs and the reference's parameters. */
interface GoldenCase {
  groups: ({ params: [string, number[]][] } & GaLoreOptions)[];
  options: GaLoreOptions;
  init: Record<string, number[]>;
  grads: Record<string, number[]>[];
  params: Record<string, Record<string, number[]>>;
}
const golden = JSON.parse(readFileSync(new URL('../../../test/golden/optim/galore.json', import.meta.url), 'utf8')) as {
  steps: number;
  snapshots: number[];
  cases: Record<string, GoldenCase>;
};

/** max |a − e| / max |e|: the difference relative to the tensor's scale. */
function relativeDifference(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let [diff, scale] = [0, 0];
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return diff / scale;
}

const randomMatrix = (rng: Rng, shape: number[], std = 1) =>
  tensor(
    Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => std * rng.normal()),
    shape,
  );

describe('GaLoreAdamW against the PyTorch reference (tools/galore_reference.py), 50 steps', () => {
  let worst = 0;
  for (const [name, c] of Object.entries(golden.cases)) {
    it(`${name}: parameters to 1e-5 relative at every snapshot`, () => {
      const params = new Map<string, Tensor>();
      const groups: GaLoreGroupSpec[] = c.groups.map(({ params: ps, ...hyper }) => ({
        ...hyper,
        params: ps.map(([n, shape]) => {
          const p = tensor(Float32Array.from(c.init[n]), shape, { requiresGrad: true });
          params.set(n, p);
          return p;
        }),
      }));
      const optimizer = new GaLoreAdamW(groups, c.options);
      for (let step = 0; step < golden.steps; step++) {
        for (const [n, p] of params) p.grad = tensor(Float32Array.from(c.grads[step][n]), p.shape);
        optimizer.step();
        const expected = c.params[String(step + 1)];
        if (!expected) continue;
        for (const [n, p] of params) {
          const where = `${name}, ${n} after step ${step + 1}`;
          const diff = relativeDifference(p.floatData(), expected[n]);
          worst = Math.max(worst, diff);
          assert.ok(diff <= 1e-5, `${where}: relative difference ${diff}`);
        }
      }
    });
  }
  after(() => {
    if (process.env.LITHE_GALORE_REPORT) process.stderr.write(`galore golden: max relative difference ${worst}\n`);
  });
});

describe('GaLoreAdamW at full rank', () => {
  // Adam is elementwise, so it commutes with signed permutations of the coordinates but not with rotations: at
  // rank >= min(m, n) GaLore is Adam in the gradient's singular basis. It equals AdamW step for step when that basis
  // is the coordinate one, which diagonal gradients at the refreshes (steps 0 and 10) make it, up to sign.
  const cases: [number[], ProjType][] = [
    [[6, 6], 'full'],
    [[6, 6], 'std'],
    [[9, 4], 'std'],
    [[4, 9], 'std'],
    [[9, 4], 'right'],
    [[4, 9], 'left'],
  ];
  for (const [shape, projType] of cases) {
    it(`[${shape}] '${projType}' with coordinate-aligned refreshes equals AdamW to 1e-6 for 20 steps`, () => {
      const rng = new Rng(5);
      const [m, n] = shape;
      const init = randomMatrix(rng, shape);
      const galore = init.clone().requiresGrad_(true);
      const adamw = init.clone().requiresGrad_(true);
      const hyper = { lr: 1e-3, weightDecay: 0.01 };
      const g = new GaLoreAdamW(
        [{ params: [galore], rank: Math.min(m, n), updateProjGap: 10, scale: 1, projType }],
        hyper,
      );
      const a = new AdamW([adamw], hyper);
      for (let step = 0; step < 20; step++) {
        let grad = randomMatrix(rng, shape);
        if (step % 10 === 0) {
          // Distinct magnitudes, mixed signs: the singular vectors are ± coordinate vectors.
          const diagonal = new Float32Array(m * n);
          for (let i = 0; i < Math.min(m, n); i++) diagonal[i * n + i] = (i % 2 ? -1 : 1) * (3 - 0.4 * i);
          grad = tensor(diagonal, shape);
        }
        galore.grad = grad;
        adamw.grad = grad;
        g.step();
        a.step();
        assertClose(galore.floatData(), adamw.floatData(), 1e-6, 1e-6);
      }
    });
  }

  it('with a general gradient it is AdamW on the rotated problem X = W Qᵀ (eps 0, no decay: the two forms agree)', () => {
    const rng = new Rng(6);
    const shape = [8, 5];
    const init = randomMatrix(rng, shape);
    const grads = Array.from({ length: 15 }, () => randomMatrix(rng, shape));
    const w = init.clone().requiresGrad_(true);
    const hyper = { lr: 1e-2, eps: 0, weightDecay: 0 };
    const g = new GaLoreAdamW([{ params: [w], rank: 5, updateProjGap: 100, scale: 1 }], hyper);
    w.grad = grads[0];
    g.step();
    const q = g.stateDict().buffers['0.right']; // [5, 5], orthogonal
    const x = matmul(init, transpose(q)).requiresGrad_(true);
    const a = new AdamW([x], hyper);
    x.grad = matmul(grads[0], transpose(q));
    a.step();
    for (const grad of grads.slice(1)) {
      w.grad = grad;
      x.grad = matmul(grad, transpose(q));
      g.step();
      a.step();
    }
    assertClose(w.floatData(), matmul(x, q).floatData(), 1e-5, 1e-5);
  });
});

describe('GaLoreAdamW state', () => {
  it("canonical signs: each projection vector's largest-|.| entry is positive; P is orthonormal", () => {
    const rng = new Rng(7);
    const w = randomMatrix(rng, [5, 12]).requiresGrad_(true);
    const g = new GaLoreAdamW([{ params: [w], rank: 3 }]);
    w.grad = randomMatrix(rng, [5, 12]);
    g.step();
    const p = g.stateDict().buffers['0.left'];
    assert.deepEqual(p.shape, [5, 3]);
    const values = p.floatData();
    for (let j = 0; j < 3; j++) {
      const column = [0, 1, 2, 3, 4].map((i) => values[i * 3 + j]);
      const largest = column.reduce((a, b) => (Math.abs(b) > Math.abs(a) ? b : a));
      assert.ok(largest > 0, `column ${j}`);
    }
    assertClose(matmul(transpose(p), p).floatData(), [1, 0, 0, 0, 1, 0, 0, 0, 1], 1e-6, 0);
    assert.deepEqual(g.stateDict().buffers['0.expAvg'].shape, [36], 'moments in the projected shape, 3 × 12');
  });

  it('saves and resumes bit for bit mid-run, across a refresh (checkpoint at step 13, refreshes at 10 and 20)', async () => {
    const model = (seed: number) => {
      const rng = new Rng(seed);
      return new Sequential(new Linear(6, 16, { bias: true, rng }), new Linear(16, 5, { rng }));
    };
    const optimizer = (m: Sequential) =>
      new GaLoreAdamW(galoreGroups(m, { targets: '*.weight', rank: 3, updateProjGap: 10, weightDecay: 0.1 }), {
        lr: 1e-2,
      });
    const gradRng = new Rng(8);
    const grads = Array.from({ length: 30 }, () =>
      [...model(0).parameters()].map((p) => randomMatrix(gradRng, [...p.shape])),
    );
    const run = (m: Sequential, o: GaLoreAdamW, from: number, to: number) => {
      const ps = [...m.parameters()];
      for (let step = from; step < to; step++) {
        ps.forEach((p, i) => {
          p.grad = grads[step][i];
        });
        o.step();
      }
    };
    const straight = model(1);
    run(straight, optimizer(straight), 0, 30);

    const first = model(1);
    const f = optimizer(first);
    run(first, f, 0, 13);
    const out = join(work, 'run');
    await withOutputDir(out, { kind: 'train-run' }, (dir) =>
      saveTrainingCheckpoint(dir, 'checkpoint', first, f, { step: 13, elapsedSeconds: 0, batcher: null }),
    );
    const resumed = model(2);
    const r = optimizer(resumed);
    assert.equal(loadTrainingCheckpoint(join(out, 'checkpoint'), resumed, r).step, 13);
    run(resumed, r, 13, 30);
    const values = (m: Sequential) => [...m.parameters()].map((p) => p.floatData());
    assert.deepEqual(values(resumed), values(straight));
  });

  it('refuses a GaLore group with a non-2-D parameter, a bad projType and amsgrad', () => {
    const bias = tensor(new Float32Array(4), [4]);
    assert.throws(() => new GaLoreAdamW([{ params: [bias], rank: 2 }]), OptimizerError);
    const w = tensor(new Float32Array(12), [3, 4]);
    assert.throws(() => new GaLoreAdamW([{ params: [w], rank: 2, projType: 'diagonal' as ProjType }]), OptimizerError);
    assert.throws(() => new GaLoreAdamW([{ params: [w], rank: 2, amsgrad: true }]), OptimizerError);
    assert.throws(() => new GaLoreAdamW([{ params: [w], rank: 0 }]), OptimizerError);
  });

  it('galoreGroups: the default targets are the attention and MLP Linears', () => {
    const isTarget = globMatcher('model.layers.*.self_attn.*,model.layers.*.mlp.*');
    assert.ok(isTarget('model.layers.3.self_attn.q_proj.weight'));
    assert.ok(isTarget('model.layers.0.mlp.down_proj.weight'));
    assert.ok(!isTarget('model.embed_tokens.weight'));
    assert.ok(!isTarget('model.layers.0.input_layernorm.weight'));
    assert.ok(!isTarget('lm_head.weight'));
  });
});
