import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PruneError, pruneModel, unstructuredMask, wandaScores } from '../../src/compress/prune/index.js';
import { noGrad } from '../../src/engine/autograd.js';
import { OperationAbortedError } from '../../src/engine/errors.js';
import { Rng } from '../../src/engine/rng.js';
import { Tensor } from '../../src/engine/tensor.js';
import { loadDecoder } from '../../src/io/checkpoint.js';
import type { DecoderForCausalLM, DecoderLayer, Rope } from '../../src/models/llama/model.js';
import { Linear } from '../../src/nn/linear.js';
import { silu } from '../../src/ops/activations.js';
import { scaledDotProductAttention } from '../../src/ops/attention.js';
import { add, mul } from '../../src/ops/elementwise.js';
import { linear } from '../../src/ops/matmul.js';
import { applyRotary } from '../../src/ops/rope.js';
import { reshape, transpose } from '../../src/ops/views.js';
import { dense } from '../helpers/dense-linear.js';

const modelDir = (name: string) => fileURLToPath(new URL(`../../../test/golden/models/${name}`, import.meta.url));
const MODELS = ['llama', 'qwen2', 'mistral'];
const NSAMPLES = 8;
const SEQLEN = 16;

/** Random token ids (the golden models' vocabulary is 64): NSAMPLES × SEQLEN. */
function randomCalibration(seed = 0): Int32Array[] {
  const rng = new Rng(seed);
  return Array.from({ length: NSAMPLES }, () => Int32Array.from({ length: SEQLEN }, () => rng.int(64)));
}

/** All calibration samples as one batch of ids [NSAMPLES, SEQLEN]. */
function idsTensor(calibration: Int32Array[]): Tensor {
  const ids = new Int32Array(NSAMPLES * SEQLEN);
  calibration.forEach((sample, i) => {
    ids.set(sample, i * SEQLEN);
  });
  return new Tensor(ids, [NSAMPLES, SEQLEN], 'i32');
}

/** The 7 Linears of a block by their short names, in forward order. */
function blockLinears(layer: DecoderLayer) {
  const { selfAttn: a, mlp } = layer;
  return {
    'self_attn.q_proj': dense(a.qProj),
    'self_attn.k_proj': dense(a.kProj),
    'self_attn.v_proj': dense(a.vProj),
    'self_attn.o_proj': dense(a.oProj),
    'mlp.gate_proj': dense(mlp.gateProj),
    'mlp.up_proj': dense(mlp.upProj),
    'mlp.down_proj': dense(mlp.downProj),
  };
}

/** Σ over tokens of x_j², per column j of x [..., in]. */
function columnSumsSq(x: Tensor): Float64Array {
  const cols = x.shape[x.rank - 1];
  const data = x.floatData();
  const out = new Float64Array(cols);
  for (let i = 0; i < data.length; i++) out[i % cols] += data[i] * data[i];
  return out;
}

/**
 * Each block Linear's Σx² per input column, recomputed from the block's ops by hand (not through the
 * Linear modules the pipeline hooks): x [B, T, C] -> short name -> [in].
 */
function blockNormsSqByHand(layer: DecoderLayer, x: Tensor, rope: Rope): Record<string, Float64Array> {
  const a = blockLinears(layer);
  const { numHeads: h, numKvHeads: hkv, headDim: d, slidingWindow } = layer.selfAttn.config;
  const [b, t] = x.shape;
  const heads = (y: Tensor, n: number) => transpose(reshape(y, [b, t, n, d]), 1, 2);
  const attnIn = layer.inputLayernorm.forward(x);
  const q = applyRotary(
    heads(linear(attnIn, a['self_attn.q_proj'].weight, a['self_attn.q_proj'].bias), h),
    rope.cos,
    rope.sin,
  );
  const k = applyRotary(
    heads(linear(attnIn, a['self_attn.k_proj'].weight, a['self_attn.k_proj'].bias), hkv),
    rope.cos,
    rope.sin,
  );
  const v = heads(linear(attnIn, a['self_attn.v_proj'].weight, a['self_attn.v_proj'].bias), hkv);
  const attn = scaledDotProductAttention(q, k, v, { causal: true, slidingWindow: slidingWindow ?? undefined });
  const oIn = reshape(transpose(attn, 1, 2), [b, t, h * d]);
  const residual = add(x, linear(oIn, a['self_attn.o_proj'].weight, a['self_attn.o_proj'].bias));
  const mlpIn = layer.postAttentionLayernorm.forward(residual);
  const { 'mlp.gate_proj': gate, 'mlp.up_proj': up } = a;
  const downIn = mul(silu(linear(mlpIn, gate.weight, gate.bias)), linear(mlpIn, up.weight, up.bias));
  const [attnSq, oSq, mlpSq, downSq] = [attnIn, oIn, mlpIn, downIn].map(columnSumsSq);
  return {
    'self_attn.q_proj': attnSq,
    'self_attn.k_proj': attnSq,
    'self_attn.v_proj': attnSq,
    'self_attn.o_proj': oSq,
    'mlp.gate_proj': mlpSq,
    'mlp.up_proj': mlpSq,
    'mlp.down_proj': downSq,
  };
}

/** Wanda's 50% row masks of a block's Linears from inputs x, by hand: short name -> mask. */
function wandaMasksByHand(model: DecoderForCausalLM, block: number, x: Tensor, sparsity: number) {
  const layer = model.model.layers[block];
  const normsSq = blockNormsSqByHand(layer, x, model.rope(0, SEQLEN));
  return Object.fromEntries(
    Object.entries(blockLinears(layer)).map(([name, lin]) => [
      name,
      unstructuredMask(
        wandaScores(lin.weight, new Tensor(normsSq[name], [normsSq[name].length], 'f64')),
        sparsity,
      ).dataSync() as Uint8Array,
    ]),
  );
}

function zerosPerRow(w: Tensor): number[] {
  const [rows, cols] = w.shape;
  const data = w.floatData();
  return Array.from({ length: rows }, (_, r) => data.subarray(r * cols, (r + 1) * cols).filter((v) => v === 0).length);
}

function weightsOf(model: DecoderForCausalLM): Map<string, number[]> {
  return new Map([...model.namedParameters()].map(([name, t]) => [name, t.toArray()]));
}

function logits(model: DecoderForCausalLM, calibration: Int32Array[]): Float32Array {
  return noGrad(() => model.forward(idsTensor(calibration))).floatData() as Float32Array;
}

function meanSquaredError(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return s / a.length;
}

describe('pruneModel', () => {
  const calibration = randomCalibration();

  for (const name of MODELS) {
    it(`${name}: wanda and magnitude prune ⌊in·s⌋ of every row of every block Linear, and logits stay finite`, async () => {
      for (const method of ['wanda', 'magnitude'] as const) {
        const model = await loadDecoder(modelDir(name));
        const result = await pruneModel(model, { calibration, method, sparsity: 0.5 });
        assert.equal(result.modules.length, 7 * model.config.numLayers);
        for (const [index, layer] of model.model.layers.entries()) {
          for (const [short, lin] of Object.entries(blockLinears(layer))) {
            const cols = lin.weight.shape[1];
            assert.ok(
              zerosPerRow(lin.weight).every((z) => z === Math.floor(cols * 0.5)),
              `${method} ${index} ${short}`,
            );
          }
        }
        assert.equal(result.achievedSparsity, 0.5);
        assert.ok(logits(model, calibration).every(Number.isFinite));
      }
    });
  }

  it('never prunes embeddings, norms or lm_head', async () => {
    const model = await loadDecoder(modelDir('llama'));
    const before = weightsOf(model);
    await pruneModel(model, { calibration, method: 'sparsegpt', sparsity: 0.5 });
    for (const [name, values] of weightsOf(model)) {
      if (!/layers\.\d+\.(self_attn|mlp)\./.test(name)) assert.deepEqual(values, before.get(name), name);
    }
  });

  it('magnitude needs no calibration; its layer group prunes ⌊out·in·s⌋ per matrix', async () => {
    const model = await loadDecoder(modelDir('llama'));
    const result = await pruneModel(model, { method: 'magnitude', sparsity: 0.3, magnitudeGroup: 'layer' });
    for (const m of result.modules) {
      const expected = Math.floor(m.shape[0] * m.shape[1] * 0.3);
      assert.equal(m.mask.size - m.mask.toArray().reduce((a, b) => a + b, 0), expected, m.name);
    }
    assert.equal(result.seconds.calibration, undefined);
    await assert.rejects(pruneModel(model, { method: 'wanda', sparsity: 0.5 }), PruneError);
  });

  for (const method of ['magnitude', 'wanda', 'sparsegpt'] as const) {
    it(`${method} 2:4 holds in every group of 4 input columns of every pruned Linear`, async () => {
      const model = await loadDecoder(modelDir('qwen2'));
      const result = await pruneModel(model, { calibration, method, nm: [2, 4] });
      assert.equal(result.pattern, 'N:M');
      assert.equal(result.targetSparsity, 0.5);
      for (const m of result.modules) {
        const keep = m.mask.toArray();
        for (let g = 0; g < keep.length; g += 4) {
          const pruned = 4 - keep.slice(g, g + 4).reduce((s, k) => s + k, 0);
          assert.equal(pruned, 2, `${m.name} group ${g / 4}`);
        }
      }
      assert.ok(result.achievedSparsity >= 0.5);
      assert.ok(logits(model, calibration).every(Number.isFinite));
    });
  }

  it('leaves the modules matched by skip globs dense', async () => {
    const model = await loadDecoder(modelDir('mistral'));
    const before = weightsOf(model);
    const result = await pruneModel(model, {
      calibration: calibration,
      method: 'wanda',
      sparsity: 0.5,
      skip: ['model.layers.0.*', 'model.layers.*.mlp.down_proj'],
    });
    const dense = [
      'model.layers.1.mlp.down_proj',
      ...Object.keys(blockLinears(model.model.layers[0])).map((n) => `model.layers.0.${n}`),
    ];
    assert.deepEqual(result.skipped.map((m) => m.name).sort(), [...dense].sort());
    for (const name of dense)
      assert.deepEqual(model.namedParameters().get(`${name}.weight`)?.toArray(), before.get(`${name}.weight`));
    assert.deepEqual(
      result.modules.map((m) => m.name),
      ['q_proj', 'k_proj', 'v_proj', 'o_proj']
        .map((n) => `model.layers.1.self_attn.${n}`)
        .concat(['gate_proj', 'up_proj'].map((n) => `model.layers.1.mlp.${n}`)),
    );
    await assert.rejects(
      pruneModel(model, { calibration, method: 'wanda', sparsity: 0.5, skip: ['model.layer.*'] }),
      /matches no module/,
    );
  });

  it('with skip, achievedSparsity counts the zeros of all block Linears, prunedSparsity those of the pruned', async () => {
    const model = await loadDecoder(modelDir('llama'));
    // A dense weight with zeros of its own: they count toward the model's sparsity, not the pruned figure.
    const skippedWeight = dense(model.model.layers[1].mlp.downProj).weight;
    skippedWeight.dataSync().fill(0, 0, 100);
    const result = await pruneModel(model, {
      calibration,
      method: 'wanda',
      sparsity: 0.5,
      skip: ['model.layers.0.self_attn.*', 'model.layers.1.mlp.down_proj'],
    });
    const zerosOf = (w: Tensor) => w.floatData().filter((v) => v === 0).length;
    const count = (layers: DecoderLayer[], withSkipped = true) => {
      let zeros = 0;
      let total = 0;
      for (const layer of layers) {
        for (const [short, lin] of Object.entries(blockLinears(layer))) {
          const skipped = layer === model.model.layers[0] ? short.startsWith('self_attn') : short === 'mlp.down_proj';
          if (skipped && !withSkipped) continue;
          zeros += zerosOf(lin.weight);
          total += lin.weight.size;
        }
      }
      return zeros / total;
    };
    const layers = model.model.layers;
    assert.equal(result.achievedSparsity, count(layers));
    assert.ok(result.achievedSparsity < 0.5, `${result.achievedSparsity}`);
    assert.equal(result.prunedSparsity, 0.5);
    assert.equal(result.prunedSparsity, count(layers, false));
    // Per block: the target allocation asked for, and the zeros measured over all its Linears.
    assert.deepEqual(
      result.blocks.map((b) => b.targetSparsity),
      [0.5, 0.5],
    );
    assert.deepEqual(
      result.blocks.map((b) => b.sparsity),
      [count([layers[0]]), count([layers[1]])],
    );
    assert.ok(result.blocks[0].sparsity < result.blocks[1].sparsity);
    // The skipped modules with their shapes and own sparsity.
    const [c, f] = [model.config.hiddenSize, model.config.intermediateSize];
    assert.deepEqual(
      result.skipped.find((m) => m.name === 'model.layers.1.mlp.down_proj'),
      { name: 'model.layers.1.mlp.down_proj', shape: [c, f], sparsity: 100 / (c * f) },
    );
    assert.deepEqual(
      result.skipped.map((m) => m.name),
      ['q_proj', 'k_proj', 'v_proj', 'o_proj']
        .map((n) => `model.layers.0.self_attn.${n}`)
        .concat('model.layers.1.mlp.down_proj'),
    );
  });

  it('OWL: block sparsities from the dense outlier ratios average to the target', async () => {
    const model = await loadDecoder(modelDir('llama'));
    const phases: string[] = [];
    const result = await pruneModel(model, {
      calibration: calibration,
      method: 'wanda',
      sparsity: 0.5,
      allocation: 'owl',
      owlM: 3,
      onProgress: (p) => phases.push(`${p.phase} ${p.done}/${p.total} ${p.unit}`),
    });
    assert.deepEqual(phases, ['outliers 1/2 block', 'outliers 2/2 block', 'prune 1/2 block', 'prune 2/2 block']);
    const sparsities = result.blocks.map((b) => b.targetSparsity);
    assert.ok(Math.abs((sparsities[0] + sparsities[1]) / 2 - 0.5) < 1e-12);
    // Two blocks with different ratios land at S ± λ; more outliers, less pruning.
    assert.deepEqual(
      sparsities.map((s) => Math.round(Math.abs(s - 0.5) * 1e9) / 1e9),
      [0.08, 0.08],
    );
    const [r0, r1] = result.blocks.map((b) => b.outlierRatio as number);
    assert.equal(sparsities[0] < sparsities[1], r0 > r1);
    for (const m of result.modules) {
      const block = Number(m.name.split('.')[2]);
      const expected = Math.floor(m.shape[1] * sparsities[block]);
      for (let r = 0; r < m.shape[0]; r++) {
        const row = m.mask.toArray().slice(r * m.shape[1], (r + 1) * m.shape[1]);
        assert.equal(row.filter((keep) => keep === 0).length, expected, m.name);
      }
    }
    await assert.rejects(
      pruneModel(model, { calibration, method: 'wanda', nm: [2, 4], allocation: 'owl' }),
      PruneError,
    );
  });

  it('wanda prunes block 0 from the dense embeddings and block 1 from the pruned block 0 outputs', async () => {
    const model = await loadDecoder(modelDir('llama'));
    const result = await pruneModel(model, {
      calibration: calibration,
      method: 'wanda',
      sparsity: 0.5,
      batchSize: NSAMPLES,
    });
    const maskOf = (name: string) =>
      result.modules.find((m) => m.name === name)?.mask.dataSync() as Uint8Array | undefined;

    // An independent recomputation on a fresh copy of the dense model.
    const byHand = await loadDecoder(modelDir('llama'));
    noGrad(() => {
      const rope = byHand.rope(0, SEQLEN);
      const [layer0] = byHand.model.layers;
      const x0 = byHand.embed(idsTensor(calibration));
      const masks0 = wandaMasksByHand(byHand, 0, x0, 0.5);
      for (const [short, mask] of Object.entries(masks0))
        assert.deepEqual(maskOf(`model.layers.0.${short}`), mask, short);

      const denseX1 = layer0.forward(x0, rope);
      for (const [short, lin] of Object.entries(blockLinears(layer0))) {
        const w = lin.weight.dataSync();
        masks0[short].forEach((keep, i) => {
          if (keep === 0) w[i] = 0;
        });
      }
      const prunedX1 = layer0.forward(x0, rope);
      const masks1 = wandaMasksByHand(byHand, 1, prunedX1, 0.5);
      for (const [short, mask] of Object.entries(masks1))
        assert.deepEqual(maskOf(`model.layers.1.${short}`), mask, short);
      // The dense block 0 outputs would have chosen other weights somewhere in block 1.
      const denseMasks1 = wandaMasksByHand(byHand, 1, denseX1, 0.5);
      assert.ok(Object.entries(denseMasks1).some(([short, mask]) => !mask.every((k, i) => k === masks1[short][i])));
    });
  });

  it('SparseGPT reconstructs the dense logits better than wanda at 50%', async () => {
    const dense = logits(await loadDecoder(modelDir('llama')), calibration);
    const errorOf = async (method: 'wanda' | 'sparsegpt') => {
      const model = await loadDecoder(modelDir('llama'));
      const result = await pruneModel(model, { calibration, method, sparsity: 0.5 });
      assert.ok(
        result.achievedSparsity >= 0.5 && result.achievedSparsity < 0.6,
        `${method} ${result.achievedSparsity}`,
      );
      return meanSquaredError(logits(model, calibration), dense);
    };
    const wanda = await errorOf('wanda');
    const sparsegpt = await errorOf('sparsegpt');
    assert.ok(sparsegpt < wanda, `sparsegpt ${sparsegpt} vs wanda ${wanda}`);
  });

  it('SparseGPT prunes bf16 weights in place and keeps their dtype', async () => {
    const model = await loadDecoder(modelDir('llama'));
    // setParameter keeps each parameter and its dtype, so a bf16 weight is registered in place of the f32 one.
    for (const [name, m] of model.namedModules()) {
      if (!(m instanceof Linear) || !name.includes('_proj')) continue;
      (m as unknown as { addParam(n: string, t: Tensor): Tensor }).addParam('weight', m.weight.to('bf16'));
    }
    const result = await pruneModel(model, { calibration, method: 'sparsegpt', nm: [2, 4] });
    for (const m of result.modules) {
      const w = model.namedParameters().get(`${m.name}.weight`) as Tensor;
      assert.equal(w.dtype, 'bf16');
      const values = w.toArray();
      m.mask.toArray().forEach((keep, i) => {
        if (keep === 0) assert.equal(values[i], 0, m.name);
      });
    }
    assert.ok(logits(model, calibration).every(Number.isFinite));
  });

  it('magnitude runs with no calibration at all; wanda without it says how to give it', async () => {
    const model = await loadDecoder(modelDir('llama'));
    const result = await pruneModel(model, { method: 'magnitude', sparsity: 0.5 });
    assert.equal(result.achievedSparsity, 0.5);
    for (const method of ['wanda', 'sparsegpt'] as const) {
      await assert.rejects(
        pruneModel(model, { method, sparsity: 0.5 }),
        (err: unknown) =>
          err instanceof PruneError &&
          err.message ===
            `pruneModel: ${method} needs calibration samples: pass options.calibration (e.g. corpusCalibration(tokenizer, documents))`,
      );
    }
    await assert.rejects(
      pruneModel(model, { method: 'magnitude', sparsity: 0.5, allocation: 'owl' }),
      /owl allocation needs/,
    );
  });

  it('lets the event loop run between blocks and stops with OperationAbortedError when aborted', async () => {
    const model = await loadDecoder(modelDir('llama'));
    const controller = new AbortController();
    const events: string[] = [];
    const pruning = pruneModel(model, {
      calibration,
      method: 'wanda',
      sparsity: 0.5,
      signal: controller.signal,
      onProgress: (p) => {
        events.push(`${p.phase} ${p.done}`);
        setImmediate(() => events.push(`after ${p.phase} ${p.done}`));
      },
    });
    // Queued behind pruneModel's first yield (after block 0's statistics): runs once block 0 is pruned, mid-run.
    setImmediate(() => {
      events.push('abort');
      controller.abort();
    });
    await assert.rejects(
      pruning.finally(() => events.push('rejected')),
      (err: unknown) => err instanceof OperationAbortedError && err.message === 'aborted',
    );
    assert.deepEqual(events, ['prune 1', 'abort', 'after prune 1', 'rejected']);
    // Aborted between blocks: block 0 is pruned, block 1 still dense.
    assert.ok(
      dense(model.model.layers[0].selfAttn.qProj)
        .weight.floatData()
        .some((v) => v === 0),
    );
    assert.ok(
      dense(model.model.layers[1].selfAttn.qProj)
        .weight.floatData()
        .every((v) => v !== 0),
    );

    await assert.rejects(
      pruneModel(model, { calibration, method: 'wanda', sparsity: 0.5, signal: AbortSignal.abort() }),
      OperationAbortedError,
    );
  });

  it('rejects a sparsity that contradicts N:M and calibration samples of unequal length', async () => {
    const model = await loadDecoder(modelDir('llama'));
    await assert.rejects(pruneModel(model, { calibration, method: 'wanda', sparsity: 0.6, nm: [2, 4] }), /contradicts/);
    await assert.rejects(
      pruneModel(model, { calibration: [new Int32Array(4), new Int32Array(5)], method: 'wanda', sparsity: 0.5 }),
      /same, non-zero length/,
    );
  });
});
