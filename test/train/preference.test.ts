import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Tensor } from '../../src/engine/tensor.js';
import { pairLogProbs } from '../../src/eval/preference.js';
import { parseDecoderConfig } from '../../src/models/llama/config.js';
import { DecoderForCausalLM } from '../../src/models/llama/model.js';
import { crossEntropy } from '../../src/ops/loss.js';
import { logSoftmax } from '../../src/ops/softmax.js';
import { causalLmLoss } from '../../src/train/causal-lm.js';
import { CompletionBatcher, completionBatch, IGNORE_TARGET } from '../../src/train/completions.js';
import { type TrainRecord, train } from '../../src/train/loop.js';
import { AdamW } from '../../src/train/optim/adamw.js';
import {
  outcomeProbabilities,
  PREFERENCE_LOSSES,
  PreferenceBatcher,
  PreferenceError,
  type PreferenceIds,
  preferenceBatch,
  preferenceLoss,
  preferenceObjective,
  preferenceTokens,
  referenceLogProbs,
  sequenceLogProbs,
} from '../../src/train/preference.js';

const vec = (values: readonly number[]) => new Tensor(Float32Array.from(values), [values.length], 'f32');
const ids = (values: readonly number[]) => Int32Array.from(values);

/** Each got[i] within tol of want[i]. */
function assertClose(got: readonly number[], want: readonly number[], tol: number, what: string): void {
  assert.equal(got.length, want.length, what);
  for (const [i, v] of got.entries()) assert.ok(Math.abs(v - want[i]) < tol, `${what}[${i}]: ${v} vs ${want[i]}`);
}

/** Pairs with d = β·Δ equal to `ds`: the policy's chosen log-prob is d/β, everything else 0. */
function atMargins(ds: readonly number[], beta: number, tie?: readonly number[]) {
  const zeros = vec(ds.map(() => 0));
  return {
    policyChosen: vec(ds.map((d) => d / beta)),
    policyRejected: zeros,
    referenceChosen: zeros,
    referenceRejected: zeros,
    ...(tie && { tie: vec(tie) }),
  };
}

const config = parseDecoderConfig({
  architectures: ['LlamaForCausalLM'],
  vocab_size: 32,
  hidden_size: 16,
  intermediate_size: 32,
  num_hidden_layers: 1,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  max_position_embeddings: 64,
  dtype: 'float32',
});

describe('preferenceLoss', () => {
  it("gives TODO's published test values at α = 0.5 to 1e-6 (methods-training.md)", () => {
    const ds = [0, 0.5, 1, 2];
    const nonTie = preferenceLoss(atMargins(ds, 0.01), { loss: 'todo', beta: 0.01, alpha: 0.5 }).losses.toArray();
    const tie = preferenceLoss(atMargins(ds, 0.01, [1, 1, 1, 1]), { loss: 'todo', beta: 0.01, alpha: 0.5 });
    // The paper's table, to six places (0.693147 is ln 2).
    const expectNonTie = [0.974077, Math.LN2, 0.474077, 0.201413];
    const expectTie = [1.406829, 1.465084, 1.634165, 2.238978];
    assertClose(nonTie, expectNonTie, 1e-6, 'non-tie');
    assertClose(tie.losses.toArray(), expectTie, 1e-6, 'tie');
  });

  it('mixes tie and non-tie pairs in one batch', () => {
    const mixed = preferenceLoss(atMargins([1, 1], 0.01, [0, 1]), { loss: 'todo', beta: 0.01 }).losses.toArray();
    assert.ok(Math.abs(mixed[0] - 0.474077) < 1e-6 && Math.abs(mixed[1] - 1.634165) < 1e-6, `${mixed}`);
  });

  it('writes each DPO-family loss as its formula', () => {
    const ds = [-1.5, 0.25, 3];
    const beta = 0.1;
    const eps = 0.2;
    const logSig = (x: number) => -Math.log1p(Math.exp(-x));
    const expected: Record<string, (d: number) => number> = {
      sigmoid: (d) => -logSig(d),
      cdpo: (d) => -(1 - eps) * logSig(d) - eps * logSig(-d),
      robust: (d) => (-(1 - eps) * logSig(d) + eps * logSig(-d)) / (1 - 2 * eps),
      hinge: (d) => Math.max(0, 1 - d),
      ipo: (d) => (d / beta - 1 / (2 * beta)) ** 2,
      todo: (d) => -logSig(d - 0.5),
    };
    for (const loss of PREFERENCE_LOSSES) {
      const labelSmoothing = loss === 'cdpo' || loss === 'robust' ? eps : 0;
      const ones = vec(ds.map(() => 1));
      const logps = { ...atMargins(ds, beta), chosenTokens: ones, rejectedTokens: ones };
      const got = preferenceLoss(logps, { loss, beta, labelSmoothing }).losses.toArray();
      got.forEach((v, i) => {
        const want = expected[loss](ds[i]);
        assert.ok(Math.abs(v - want) < 1e-5 * Math.max(1, Math.abs(want)), `${loss} d=${ds[i]}: ${v} vs ${want}`);
      });
    }
  });

  it("returns TRL's implicit rewards β·(policy − reference) per side", () => {
    const result = preferenceLoss(
      {
        policyChosen: vec([-3, -5]),
        policyRejected: vec([-4, -2]),
        referenceChosen: vec([-3.5, -4]),
        referenceRejected: vec([-3, -3]),
      },
      { beta: 0.5 },
    );
    assert.deepEqual(result.chosenRewards.toArray(), [0.25, -0.5]);
    assert.deepEqual(result.rejectedRewards.toArray(), [-0.5, 0.5]);
    assert.equal(result.chosenRewards.requiresGrad, false);
  });

  it('refuses ties outside todo, smoothing it cannot use, and shapes that do not pair up', () => {
    assert.throws(() => preferenceLoss(atMargins([1], 0.1, [1])), PreferenceError);
    assert.throws(() => preferenceLoss(atMargins([1], 0.1), { loss: 'cdpo' }), /labelSmoothing in \(0, 0.5\)/);
    assert.throws(() => preferenceLoss(atMargins([1], 0.1), { loss: 'hinge', labelSmoothing: 0.1 }), PreferenceError);
    assert.throws(() => preferenceLoss(atMargins([1], 0.1), { labelSmoothing: 0.1 }), /cdpo is sigmoid with it/);
    assert.throws(() => preferenceLoss(atMargins([1], 0.1), { beta: 0 }), /beta/);
    assert.throws(() => preferenceLoss(atMargins([1], 0.1), { loss: 'todo', alpha: -1 }), /alpha/);
    assert.throws(() => preferenceLoss({ ...atMargins([1, 2], 0.1), policyRejected: vec([0]) }), /policyRejected/);
    assert.throws(() => preferenceLoss(atMargins([1], 0.1), { loss: 'kto' as never }), /unknown preference loss/);
  });
});

describe('outcomeProbabilities', () => {
  it('sums to 1 and favours a tie only when α > ln 2 and d is small', () => {
    for (const alpha of [0.3, 0.5, 0.7, 1.5]) {
      for (const d of [-4, -0.5, 0, 0.2, 3]) {
        const p = outcomeProbabilities(d, alpha);
        assert.ok(Math.abs(p.win + p.loss + p.tie - 1) < 1e-12, `α ${alpha} d ${d}`);
      }
    }
    const atZero = (alpha: number) => outcomeProbabilities(0, alpha);
    assert.ok(atZero(0.5).tie < atZero(0.5).win);
    assert.ok(atZero(0.7).tie > atZero(0.7).win);
  });
});

describe('completionBatch', () => {
  it('right-pads prompt ++ completion and scores only the completion tokens', () => {
    const { batch, tokens } = completionBatch(
      [
        { prompt: ids([1, 2]), completion: ids([3, 4, 5]) },
        { prompt: ids([6]), completion: ids([7]) },
      ],
      { maxLength: 16, padTokenId: 9 },
    );
    assert.deepEqual(batch.inputs.shape, [2, 4]);
    assert.deepEqual(batch.inputs.toArray(), [1, 2, 3, 4, 6, 9, 9, 9]);
    const x = IGNORE_TARGET;
    assert.deepEqual(batch.targets.toArray(), [x, 3, 4, 5, 7, x, x, x]);
    assert.deepEqual([...tokens], [3, 1]);
  });

  it('cuts long completions at maxLength and refuses a prompt that leaves no room', () => {
    const { batch, tokens } = completionBatch([{ prompt: ids([1, 2]), completion: ids([3, 4, 5]) }], { maxLength: 4 });
    assert.deepEqual(batch.targets.toArray(), [IGNORE_TARGET, 3, 4]);
    assert.deepEqual([...tokens], [2]);
    assert.throws(() => completionBatch([{ prompt: ids([1, 2]), completion: ids([3]) }], { maxLength: 2 }), /no room/);
  });

  it('makes causalLmLoss the mean cross entropy over completion tokens (SFT)', () => {
    const model = new DecoderForCausalLM(config, { seed: 1 });
    const rows = [
      { prompt: ids([1, 2, 3]), completion: ids([4, 5]) },
      { prompt: ids([6]), completion: ids([7, 8, 9, 10]) },
    ];
    const batcher = new CompletionBatcher(rows, { batchSize: 2, seed: 0 });
    const batch = batcher.next();
    const loss = causalLmLoss(model, batch).item();
    // By hand: -log p of each completion token given its prefix, over the 6 completion tokens.
    let total = 0;
    for (const row of rows) {
      const seq = [...row.prompt, ...row.completion];
      const logp = logSoftmax(model.forward(new Tensor(ids(seq.slice(0, -1)), [1, seq.length - 1], 'i32'))).toArray();
      for (let j = row.prompt.length - 1; j < seq.length - 1; j++) total -= logp[j * config.vocabSize + seq[j + 1]];
    }
    assert.ok(Math.abs(loss - total / 6) < 1e-5, `${loss} vs ${total / 6}`);
  });
});

/** Pairs of a toy preference: the chosen completion repeats the prompt's last token, the rejected one does not. */
function toyPairs(n: number, ties = 0): PreferenceIds[] {
  return Array.from({ length: n }, (_, i) => {
    const a = 1 + (i % 13);
    const tie = i < ties;
    return {
      prompt: ids([a, (a * 7) % 31]),
      chosen: ids([a, a, 0]),
      rejected: tie ? ids([a, a, a, 0]) : ids([(a + 5) % 31, 0]),
      tie,
    };
  });
}

describe('sequenceLogProbs and preference batches', () => {
  it('sums log-probabilities over completion tokens, chosen rows before rejected rows', () => {
    const model = new DecoderForCausalLM(config, { seed: 2 });
    const pairs = toyPairs(3);
    const batch = preferenceBatch(pairs, [2, 0]);
    assert.deepEqual(batch.sequences.inputs.shape[0], 4);
    const got = sequenceLogProbs(model, batch.sequences).toArray();
    const order = [pairs[2].chosen, pairs[0].chosen, pairs[2].rejected, pairs[0].rejected];
    const prompts = [pairs[2].prompt, pairs[0].prompt, pairs[2].prompt, pairs[0].prompt];
    order.forEach((completion, r) => {
      const seq = [...prompts[r], ...completion];
      const input = new Tensor(ids(seq.slice(0, -1)), [1, seq.length - 1], 'i32');
      const targets = ids(seq.slice(1).map((t, j) => (j < prompts[r].length - 1 ? IGNORE_TARGET : t)));
      const want = -crossEntropy(model.forward(input), new Tensor(targets, [1, targets.length], 'i32'), {
        reduction: 'sum',
      }).item();
      assert.ok(Math.abs(got[r] - want) < 1e-4, `row ${r}: ${got[r]} vs ${want}`);
    });
    assert.equal(preferenceTokens(batch), batch.sequences.inputs.size);
  });

  it('precomputes the reference log-probabilities that a live reference gives', async () => {
    const reference = new DecoderForCausalLM(config, { seed: 3 });
    const pairs = toyPairs(5);
    const precomputed = await pairLogProbs(reference, pairs, { batchSize: 2 });
    const batch = preferenceBatch(pairs, [4, 1, 3]);
    const live = referenceLogProbs(reference, batch).toArray();
    const looked = referenceLogProbs(precomputed, batch).toArray();
    assertClose(looked, live, 1e-5, 'precomputed');
  });
});

describe('preference training', () => {
  for (const loss of ['sigmoid', 'todo'] as const) {
    it(`${loss}: raises the chosen reward above the rejected one and logs TRL's metrics`, async () => {
      const policy = new DecoderForCausalLM(config, { seed: 4 });
      const reference = new DecoderForCausalLM(config, { seed: 4 });
      const pairs = toyPairs(24, loss === 'todo' ? 6 : 0);
      const records: TrainRecord[] = [];
      const result = await train(policy, new PreferenceBatcher(pairs, { batchSize: 8, seed: 1 }), {
        loss: preferenceObjective(reference, { loss, beta: 0.1 }),
        tokens: preferenceTokens,
        frozen: [reference],
        optimizer: new AdamW([{ params: policy.parameters() }], { lr: 1e-2 }),
        steps: 30,
        logEvery: 10,
        onLog: (r) => records.push(r),
      });
      assert.equal(result.stopped, 'completed');
      const last = records.at(-1)?.metrics as Record<string, number>;
      assert.ok(last['rewards/margins'] > 0.5, `margin ${last['rewards/margins']}`);
      assert.equal(last['rewards/accuracies'], 1);
      assert.ok(records[0].loss > (records.at(-1) as TrainRecord).loss);
      for (const key of ['rewards/chosen', 'rewards/rejected', 'logps/chosen', 'logps/rejected', 'ties/share']) {
        assert.ok(Number.isFinite(last[key]), key);
      }
      if (loss === 'todo') {
        assert.ok(Math.abs(last['ties/share'] - 0.25) < 0.15 && Number.isFinite(last['ties/loss']));
      } else assert.equal(last['ties/loss'], undefined, 'no tie rows, no tie loss');
      // The frozen reference did not move.
      for (const [name, weight] of reference.namedParameters()) assert.equal(weight.requiresGrad, false, name);
    });
  }
});
