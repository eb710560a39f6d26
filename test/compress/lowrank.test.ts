import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  LowRankError,
  lowRankCompress,
  mergeLowRank,
  normalizeSpectrum,
  type Spectrum,
  searchTau,
  storageFor,
  thresholdPlan,
} from '../../src/compress/lowrank/index.js';
import { tensor } from '../../src/engine/create.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { singularValues } from '../../src/linalg/index.js';
import { parseDecoderConfig } from '../../src/models/llama/config.js';
import { DecoderForCausalLM } from '../../src/models/llama/model.js';
import { Linear } from '../../src/nn/linear.js';
import { LowRankLinear } from '../../src/nn/low-rank-linear.js';
import { sub } from '../../src/ops/elementwise.js';
import { matmul } from '../../src/ops/matmul.js';
import { dense } from '../helpers/dense-linear.js';

function smallDecoder(seed = 0): DecoderForCausalLM {
  const config = parseDecoderConfig({
    architectures: ['LlamaForCausalLM'],
    vocab_size: 64,
    hidden_size: 32,
    intermediate_size: 48,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    initializer_range: 0.2,
  });
  return new DecoderForCausalLM(config, { seed });
}

const ids = [
  [1, 5, 9, 3, 7, 2, 8],
  [4, 4, 6, 1, 0, 3, 5],
];
const blockLinears = (model: DecoderForCausalLM) => model.blocks().flatMap((b) => b.linearGroups.flat());
const width = (s: Spectrum) => Math.min(...s.shape);

/** The spectra of every block Linear, as lowRankCompress sees them. */
function spectraOf(model: DecoderForCausalLM): Spectrum[] {
  return blockLinears(model).map(({ name, linear }) => {
    const values = singularValues(linear.weight, { dtype: 'f64' });
    return { name, shape: [linear.outFeatures, linear.inFeatures], values, normalized: normalizeSpectrum(values) };
  });
}

/** The achieved ERR of cutting at τ, counted on the host from the normalised values. */
function hostErr(spectra: Spectrum[], tau: number, total: number): number {
  let dropped = 0;
  for (const s of spectra) dropped += Array.from(s.normalized.floatData()).filter((v) => v < tau).length;
  return dropped / total;
}

describe('WeLore ranks', () => {
  it('normalises a spectrum to [0, 1] with the largest value at 1 and the smallest at 0', () => {
    const n = normalizeSpectrum(tensor([4, 3, 2], [3], { dtype: 'f64' }));
    assert.deepEqual(Array.from(n.floatData()), [1, 0.5, 0]);
    assert.deepEqual(Array.from(normalizeSpectrum(tensor([2, 2], [2], { dtype: 'f64' })).floatData()), [1, 1]);
  });

  it('finds the τ whose ERR is closest to the target, midway between two normalised values', () => {
    const spectra = spectraOf(smallDecoder());
    const total = spectra.reduce((n, s) => n + width(s), 0);
    const values = spectra.flatMap((s) => Array.from(s.normalized.floatData())).sort((a, b) => a - b);
    for (const target of [0.1, 0.3, 0.5, 0.7]) {
      const plan = searchTau(spectra, target, 0, total);
      const tau = plan.tau as number;
      // Brute force over every cut between consecutive distinct values below 1.
      let best = Number.POSITIVE_INFINITY;
      for (let i = 0; i + 1 < values.length; i++) {
        if (values[i] === values[i + 1] || values[i] >= 1) continue;
        best = Math.min(best, Math.abs(hostErr(spectra, (values[i] + values[i + 1]) / 2, total) - target));
      }
      assert.ok(Math.abs(Math.abs(plan.achievedErr - target) - best) < 1e-12, `target ${target}`);
      assert.ok(Math.abs(plan.achievedErr - hostErr(spectra, tau, total)) < 1e-12);
      const below = Math.max(...values.filter((v) => v < tau));
      const above = Math.min(...values.filter((v) => v >= tau));
      assert.ok(Math.abs(tau - (below + above) / 2) < 1e-12, 'τ sits midway in its gap');
      for (const s of spectra) {
        const kept = Array.from(s.normalized.floatData()).filter((v) => v >= tau).length;
        assert.equal(plan.ranks.get(s.name), kept);
        assert.ok(kept >= 1);
      }
    }
  });

  it('with a min-ratio, only matrices that drop more than it count, and the search still ends closest', () => {
    const spectra = spectraOf(smallDecoder());
    const total = spectra.reduce((n, s) => n + width(s), 0);
    const plan = searchTau(spectra, 0.5, 0.4999, total);
    let dropped = 0;
    for (const s of spectra) {
      const d = width(s) - (plan.ranks.get(s.name) as number);
      if (d / width(s) > 0.4999) dropped += d;
    }
    assert.equal(plan.achievedErr, dropped / total);
    assert.equal(thresholdPlan(spectra, plan.tau as number, 0.4999, total).achievedErr, plan.achievedErr);
  });
});

describe('lowRankCompress', () => {
  it('keeps the best rank-k approximation of each matrix (Eckart–Young) and factorises only where it saves', async () => {
    const model = smallDecoder(1);
    const originals = new Map(blockLinears(model).map(({ name, linear }) => [name, linear.weight.clone()]));
    const result = await lowRankCompress(model, { method: 'welore', err: 0.4 });
    assert.ok(Math.abs(result.achievedErr - 0.4) < 0.01);
    const modules = model.namedModules();
    for (const m of result.modules) {
      const [out, inp] = m.shape;
      assert.equal(m.stored, m.rank === Math.min(out, inp) ? 'unchanged' : storageFor(m.shape, m.rank));
      const original = originals.get(m.name) as Tensor;
      const layer = modules.get(m.name);
      const w = layer instanceof LowRankLinear ? matmul(layer.u.weight, layer.v.weight) : dense(layer as Linear).weight;
      assert.equal(layer instanceof LowRankLinear, m.stored === 'factors');
      if (layer instanceof LowRankLinear)
        assert.deepEqual(
          [layer.u.weight.shape, layer.v.weight.shape],
          [
            [out, m.rank],
            [m.rank, inp],
          ],
        );
      // ‖W − W_k‖²_F = Σ_{i >= k} s_i² for the truncated SVD.
      const s = Array.from(singularValues(original, { dtype: 'f64' }).floatData());
      const tail = s.slice(m.rank).reduce((a, v) => a + v * v, 0);
      const diff = Array.from(sub(original, w).floatData()).reduce((a, v) => a + v * v, 0);
      assert.ok(Math.abs(diff - tail) <= 1e-4 * s[0] ** 2, `${m.name}: ${diff} vs ${tail}`);
    }
    const count = model.parameters().reduce((n, p) => n + p.size, 0);
    assert.equal(result.parameters.after, count);
    assert.ok(result.parameters.after < result.parameters.before);
  });

  it('the uniform baseline keeps round((1 − ERR)·min(out, in)) of every matrix', async () => {
    const model = smallDecoder(2);
    const result = await lowRankCompress(model, { method: 'svd', err: 0.3 });
    assert.equal(result.tau, null);
    for (const m of result.modules) assert.equal(m.rank, Math.round(0.7 * Math.min(...m.shape)));
  });

  it('merges back to dense Linears with the same logits', async () => {
    const model = smallDecoder(3);
    await lowRankCompress(model, { method: 'welore', err: 0.6 });
    const factorised = model.forward(ids).floatData();
    const merged = mergeLowRank(model);
    assert.ok(merged.length > 0);
    assert.ok(![...model.namedModules().values()].some((m) => m instanceof LowRankLinear));
    const logits = model.forward(ids).floatData();
    for (let i = 0; i < logits.length; i++) assert.ok(Math.abs(logits[i] - factorised[i]) < 1e-4);
  });

  it('leaves skipped modules and those under min-ratio unchanged', async () => {
    const model = smallDecoder(4);
    const result = await lowRankCompress(model, {
      method: 'welore',
      err: 0.3,
      minRatio: 0.4999,
      skip: ['model.layers.0.*'],
    });
    assert.equal(result.skipped.length, 7);
    assert.ok(result.modules.every((m) => m.name.startsWith('model.layers.1.')));
    for (const m of result.modules) assert.ok(m.stored === 'unchanged' || m.droppedFraction > 0.4999);
    assert.ok(model.model.layers[0].selfAttn.qProj instanceof Linear);
  });

  it('refuses bad options and pruned Linears with a LowRankError', async () => {
    const model = smallDecoder(5);
    for (const options of [
      { method: 'svd' as const, err: 0 },
      { method: 'svd' as const, err: 1 },
      { method: 'welore' as const, err: 0.5, minRatio: 1 },
      { method: 'svd' as const, err: 0.5, tau: 0.1 },
      { method: 'welore' as const, err: 0.5, skip: ['nothing.*'] },
    ]) {
      await assert.rejects(lowRankCompress(model, options), LowRankError, JSON.stringify(options));
    }
    const q = dense(model.model.layers[0].selfAttn.qProj);
    q.setMask(tensor(new Uint8Array(q.weight.size).fill(1), q.weight.shape, { dtype: 'bool' }));
    await assert.rejects(lowRankCompress(model, { method: 'svd', err: 0.5 }), /is pruned/);
  });
});
