import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Tensor } from '../../src/engine/tensor.js';
import { parseDecoderConfig } from '../../src/models/llama/config.js';
import { DecoderForCausalLM } from '../../src/models/llama/model.js';
import { slice } from '../../src/ops/views.js';
import {
  type PreferenceIds,
  type PreferenceLossType,
  preferenceBatch,
  preferenceLoss,
  preferenceObjective,
  sequenceLogProbs,
} from '../../src/train/preference.js';

/**
 * tools/make_dpo_golden.py: a tiny random LLaMA policy and reference, four pairs (two ties), and what TRL 1.13's
 * DPOTrainer computes for them (log-probs, losses, rewards, metrics, weight gradients); cdpo and todo from their
 * formulas on TRL's forward pass (tools/todo_reference.py).
 */
interface GoldenLoss {
  loss_type: string;
  beta: number;
  label_smoothing: number;
  alpha?: number;
  losses: number[];
  chosen_rewards: number[];
  rejected_rewards: number[];
  loss: number;
  metrics: Record<string, number>;
  grads: Record<string, number[]>;
}
const golden = JSON.parse(readFileSync(new URL('../../../test/golden/align/dpo.json', import.meta.url), 'utf8')) as {
  config: Record<string, unknown>;
  policy: Record<string, number[]>;
  reference: Record<string, number[]>;
  rows: { prompt: number[]; chosen: number[]; rejected: number[]; tie: boolean }[];
  logps: Record<'policy_chosen' | 'policy_rejected' | 'reference_chosen' | 'reference_rejected', number[]>;
  losses: Record<string, GoldenLoss>;
};

const config = parseDecoderConfig(golden.config);

function modelFrom(weights: Record<string, number[]>): DecoderForCausalLM {
  const model = new DecoderForCausalLM(config, { seed: 0 });
  for (const [name, param] of model.namedParameters()) {
    const values = weights[name];
    assert.ok(values, `golden has no ${name}`);
    model.setParameter(name, new Tensor(Float32Array.from(values), param.shape, 'f32'));
  }
  return model;
}

const pairs: PreferenceIds[] = golden.rows.map((r) => ({
  prompt: Int32Array.from(r.prompt),
  chosen: Int32Array.from(r.chosen),
  rejected: Int32Array.from(r.rejected),
  tie: r.tie,
}));
const batch = preferenceBatch(pairs, [0, 1, 2, 3], { padTokenId: 0 });

/** |got − want| ≤ tol·max(1, |want|) elementwise. */
function assertClose(got: ArrayLike<number>, want: readonly number[], tol: number, what: string): void {
  assert.equal(got.length, want.length, what);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    assert.ok(err <= tol * Math.max(1, Math.abs(want[i])), `${what}[${i}]: ${got[i]} vs ${want[i]} (err ${err})`);
  }
}

const LITHE_LOSS: Record<string, PreferenceLossType> = {
  sigmoid: 'sigmoid',
  cdpo: 'cdpo',
  hinge: 'hinge',
  ipo: 'ipo',
  robust: 'robust',
  todo: 'todo',
  'todo_b0.1_a0.7': 'todo',
};

describe("preference alignment against TRL 1.13's DPOTrainer (test/golden/align/dpo.json)", () => {
  const policy = modelFrom(golden.policy);
  const reference = modelFrom(golden.reference);

  it('gives the sequence log-probabilities of chosen and rejected answers to 1e-5', () => {
    const policyLogps = sequenceLogProbs(policy, batch.sequences).toArray();
    const referenceLogps = sequenceLogProbs(reference, batch.sequences).toArray();
    assertClose(policyLogps.slice(0, 4), golden.logps.policy_chosen, 1e-5, 'policy chosen');
    assertClose(policyLogps.slice(4), golden.logps.policy_rejected, 1e-5, 'policy rejected');
    assertClose(referenceLogps.slice(0, 4), golden.logps.reference_chosen, 1e-5, 'reference chosen');
    assertClose(referenceLogps.slice(4), golden.logps.reference_rejected, 1e-5, 'reference rejected');
  });

  for (const [name, want] of Object.entries(golden.losses)) {
    const options = {
      loss: LITHE_LOSS[name],
      beta: want.beta,
      labelSmoothing: want.label_smoothing,
      alpha: want.alpha,
    };

    it(`${name}: per-pair losses, rewards and TRL's metrics to 1e-5`, () => {
      const tokens = new Tensor(batch.tokens, [8], 'f32');
      const [p, r] = [sequenceLogProbs(policy, batch.sequences), sequenceLogProbs(reference, batch.sequences)];
      const tie = new Tensor(
        Float32Array.from(pairs, (x) => Number(x.tie)),
        [4],
        'f32',
      );
      const result = preferenceLoss(
        {
          policyChosen: slice(p, 0, 0, 4),
          policyRejected: slice(p, 0, 4, 8),
          referenceChosen: slice(r, 0, 0, 4),
          referenceRejected: slice(r, 0, 4, 8),
          chosenTokens: slice(tokens, 0, 0, 4),
          rejectedTokens: slice(tokens, 0, 4, 8),
          ...(options.loss === 'todo' && { tie }),
        },
        options,
      );
      assertClose(result.losses.toArray(), want.losses, 1e-5, 'losses');
      assertClose(result.chosenRewards.toArray(), want.chosen_rewards, 1e-5, 'chosen rewards');
      assertClose(result.rejectedRewards.toArray(), want.rejected_rewards, 1e-5, 'rejected rewards');

      const { loss, metrics } = preferenceObjective(reference, options)(policy, batch) as {
        loss: Tensor;
        metrics: Record<string, Tensor>;
      };
      assertClose([loss.item()], [want.loss], 1e-5, 'mean loss');
      for (const key of ['rewards/chosen', 'rewards/rejected', 'rewards/margins', 'logps/chosen', 'logps/rejected']) {
        assertClose([metrics[key].item()], [want.metrics[key]], 1e-5, key);
      }
      // TRL counts every pair; todo leaves its ties out of the accuracy (XXares/TODO logs none).
      if (options.loss !== 'todo') {
        assertClose([metrics['rewards/accuracies'].item()], [want.metrics['rewards/accuracies']], 1e-7, 'accuracies');
      } else {
        assertClose([metrics['ties/loss'].item()], [want.metrics.tie_loss], 1e-5, 'tie loss');
        assertClose([metrics['ties/share'].item()], [want.metrics.tie_share], 1e-7, 'tie share');
      }
    });

    it(`${name}: gradients of the mean loss with respect to every policy weight to 1e-5`, () => {
      policy.zeroGrad();
      const { loss } = preferenceObjective(reference, options)(policy, batch) as { loss: Tensor };
      loss.backward();
      for (const [weight, param] of policy.namedParameters()) {
        const grad = param.grad;
        assert.ok(grad, `${weight} has no gradient`);
        const expected = want.grads[weight];
        // Scaled to the largest entry: IPO's gradients reach 14, the others stay below 1.
        const scale = Math.max(1, ...expected.map(Math.abs));
        assertClose(
          grad.toArray().map((g) => g / scale),
          expected.map((g) => g / scale),
          1e-5,
          `${name} ∂/∂${weight}`,
        );
      }
    });
  }
});
