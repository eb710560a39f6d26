import { noGrad } from '../engine/autograd.js';
import { scalar } from '../engine/create.js';
import { LitheError } from '../engine/errors.js';
import { Tensor } from '../engine/tensor.js';
import type { LitheTokenizer } from '../io/tokenizer.js';
import type { CausalLM } from '../models/causal-lm.js';
import { logSigmoid, relu, softplus } from '../ops/activations.js';
import { add, div, gt, mul, neg, pow, sub, where } from '../ops/elementwise.js';
import { crossEntropy } from '../ops/loss.js';
import { countZeros, mean, sum } from '../ops/reduce.js';
import { slice } from '../ops/views.js';
import { type Batch, type Batcher, EpochOrder, type EpochOrderState, positiveInteger } from './batches.js';
import { completionBatch, encodeCompletion, keptLength } from './completions.js';
import type { LossFn, LossWithMetrics } from './loop.js';

/** Preference options outside their range, or log-probabilities that do not fit together. */
export class PreferenceError extends LitheError {}

/**
 * The preference losses, by name (TRL's loss_type where TRL has one). With d = β·Δ and Δ the policy's log-ratio
 * margin over the reference, [log πθ(y⁺) − log πref(y⁺)] − [log πθ(y⁻) − log πref(y⁻)]:
 * - sigmoid: −log σ(d) (DPO);
 * - cdpo: −(1−ε) log σ(d) − ε log σ(−d) with ε = labelSmoothing in (0, 0.5) (conservative DPO; TRL's sigmoid did
 *   this before 1.x, and now ignores label_smoothing);
 * - robust: [−(1−ε) log σ(d) + ε log σ(−d)] / (1 − 2ε), ε in (0, 0.5);
 * - hinge: relu(1 − d);
 * - ipo: (Δ̄ − 1/(2β))², where Δ̄ takes each log-ratio per completion token (the rewards stay on the sums, as TRL's);
 * - todo: TODO's Rao-Kupper model with margin α: a non-tie pair −(1−ε) log σ(d − α) − ε log σ(α − d), a tie pair
 *   −log(e^{2α} − 1) + softplus(α − d) + softplus(α + d), i.e. −log P(tie).
 */
export const PREFERENCE_LOSSES = ['sigmoid', 'cdpo', 'robust', 'hinge', 'ipo', 'todo'] as const;
export type PreferenceLossType = (typeof PREFERENCE_LOSSES)[number];

export interface PreferenceLossOptions {
  /** Default 'sigmoid'. */
  loss?: PreferenceLossType;
  /** β, the strength of the KL anchor to the reference (default 0.1, TRL's; for todo 0.01, TODO's). */
  beta?: number;
  /** ε: the assumed share of flipped labels (cdpo, robust, todo); default 0. */
  labelSmoothing?: number;
  /** TODO's tie margin α > 0 (its code stores θ = −α); default 0.5. */
  alpha?: number;
}

/** Sequence log-probabilities of a batch of pairs, each [B]: sums over completion tokens. */
export interface PairLogProbs {
  policyChosen: Tensor;
  policyRejected: Tensor;
  referenceChosen: Tensor;
  referenceRejected: Tensor;
  /** Completion tokens of each answer, [B]; ipo only, which averages the log-ratios over them. */
  chosenTokens?: Tensor;
  rejectedTokens?: Tensor;
  /** [B], non-zero for a tie pair; todo only (the other losses have no tie term). */
  tie?: Tensor;
}

export interface PreferenceLossResult {
  /** [B] */
  losses: Tensor;
  /** β·(log πθ(y⁺) − log πref(y⁺)), detached, [B]. */
  chosenRewards: Tensor;
  /** β·(log πθ(y⁻) − log πref(y⁻)), detached, [B]. */
  rejectedRewards: Tensor;
}

interface LossContext {
  /** Δ, [B] */
  margin: Tensor;
  /** The log-ratios of each side, [B] (ipo averages them per token). */
  chosenRatio: Tensor;
  rejectedRatio: Tensor;
  chosenTokens: Tensor | undefined;
  rejectedTokens: Tensor | undefined;
  /** d = β·Δ, [B] */
  d: Tensor;
  beta: number;
  epsilon: number;
  alpha: number;
  tie: Tensor | undefined;
}

/** −(1−ε) log σ(x) − ε log σ(y): the smoothed binary term cdpo and todo share. */
function smoothedLogistic(x: Tensor, y: Tensor, epsilon: number): Tensor {
  const term = neg(logSigmoid(x));
  return epsilon === 0 ? term : sub(mul(term, 1 - epsilon), mul(logSigmoid(y), epsilon));
}

const LOSS_TERMS: Record<PreferenceLossType, (c: LossContext) => Tensor> = {
  sigmoid: ({ d }) => neg(logSigmoid(d)),
  cdpo: ({ d, epsilon }) => smoothedLogistic(d, neg(d), epsilon),
  robust: ({ d, epsilon }) =>
    div(add(mul(neg(logSigmoid(d)), 1 - epsilon), mul(logSigmoid(neg(d)), epsilon)), 1 - 2 * epsilon),
  hinge: ({ d }) => relu(sub(1, d)),
  ipo: ({ chosenRatio, rejectedRatio, chosenTokens, rejectedTokens, beta }) => {
    if (!chosenTokens || !rejectedTokens)
      throw new PreferenceError('the ipo loss needs chosenTokens and rejectedTokens');
    const averaged = sub(div(chosenRatio, chosenTokens), div(rejectedRatio, rejectedTokens));
    return pow(sub(averaged, 1 / (2 * beta)), 2);
  },
  todo: ({ d, epsilon, alpha, tie }) => {
    // XXares/TODO smooths with the flipped preference logit α − d.
    const preferred = smoothedLogistic(sub(d, alpha), sub(alpha, d), epsilon);
    if (!tie) return preferred;
    const tied = add(add(softplus(sub(alpha, d)), softplus(add(d, alpha))), -Math.log(Math.expm1(2 * alpha)));
    return where(tie, tied, preferred);
  },
};

/** TODO's β (its paper's config); the DPO family takes TRL's 0.1. */
export const TODO_BETA = 0.01;

/** The options with their defaults, checked. */
export function preferenceDefaults(options: PreferenceLossOptions = {}): Required<PreferenceLossOptions> {
  const { loss = 'sigmoid', labelSmoothing = 0, alpha = 0.5 } = options;
  const beta = options.beta ?? (loss === 'todo' ? TODO_BETA : 0.1);
  if (!PREFERENCE_LOSSES.includes(loss)) {
    throw new PreferenceError(`unknown preference loss '${loss}'; expected one of ${PREFERENCE_LOSSES.join(', ')}`);
  }
  if (!(beta > 0 && Number.isFinite(beta))) throw new PreferenceError(`beta must be a positive number, got ${beta}`);
  if (!(labelSmoothing >= 0 && labelSmoothing < 0.5)) {
    throw new PreferenceError(`labelSmoothing must be in [0, 0.5), got ${labelSmoothing}`);
  }
  if ((loss === 'cdpo' || loss === 'robust') && labelSmoothing === 0) {
    throw new PreferenceError(`the ${loss} loss needs labelSmoothing in (0, 0.5); with 0 it is the sigmoid loss`);
  }
  if (labelSmoothing > 0 && (loss === 'sigmoid' || loss === 'hinge' || loss === 'ipo')) {
    throw new PreferenceError(
      `the ${loss} loss takes no labelSmoothing${loss === 'sigmoid' ? ' (cdpo is sigmoid with it)' : ''}`,
    );
  }
  if (!(alpha > 0 && Number.isFinite(alpha)))
    throw new PreferenceError(`alpha must be a positive number, got ${alpha}`);
  return { loss, beta, labelSmoothing, alpha };
}

/**
 * The per-pair preference loss and TRL's implicit rewards, from sequence log-probabilities (see PREFERENCE_LOSSES).
 * With `tie` given, todo mixes tie and non-tie pairs in one batch; a tie pair under any other loss is an error, since
 * the DPO family has no tie term (leave ties out of the data instead).
 */
export function preferenceLoss(logps: PairLogProbs, options: PreferenceLossOptions = {}): PreferenceLossResult {
  const { loss, beta, labelSmoothing, alpha } = preferenceDefaults(options);
  const { policyChosen, policyRejected, referenceChosen, referenceRejected, tie, chosenTokens, rejectedTokens } = logps;
  const b = policyChosen.size;
  const optional = {
    ...(tie && { tie }),
    ...(chosenTokens && { chosenTokens }),
    ...(rejectedTokens && { rejectedTokens }),
  };
  for (const [name, t] of Object.entries({ policyRejected, referenceChosen, referenceRejected, ...optional })) {
    if (t.rank !== 1 || t.size !== b) throw new PreferenceError(`${name} has shape [${t.shape}], expected [${b}]`);
  }
  if (tie && loss !== 'todo' && countZeros(tie) !== tie.size) {
    throw new PreferenceError(`the ${loss} loss has no tie term: tie pairs need the todo loss`);
  }
  const chosenRatio = sub(policyChosen, referenceChosen);
  const rejectedRatio = sub(policyRejected, referenceRejected);
  const margin = sub(chosenRatio, rejectedRatio);
  const d = mul(margin, beta);
  const context = { margin, chosenRatio, rejectedRatio, chosenTokens, rejectedTokens, d, beta, alpha, tie };
  const losses = LOSS_TERMS[loss]({ ...context, epsilon: labelSmoothing });
  return {
    losses,
    chosenRewards: mul(chosenRatio, beta).detach(),
    rejectedRewards: mul(rejectedRatio, beta).detach(),
  };
}

/**
 * TODO's three outcome probabilities at d = β·Δ (Rao-Kupper, margin α): the chosen answer wins σ(d − α), loses
 * σ(−d − α), ties (e^{2α} − 1)·σ(d − α)·σ(−d − α); they sum to 1.
 */
export function outcomeProbabilities(d: number, alpha: number): { win: number; loss: number; tie: number } {
  const sigmoid = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));
  const win = sigmoid(d - alpha);
  const loss = sigmoid(-d - alpha);
  return { win, loss, tie: Math.expm1(2 * alpha) * win * loss };
}

/**
 * Log-probability of each row's completion under `model`, [R]: the sum over its scored targets (those that are not
 * IGNORE_TARGET) of log softmax(logits). lithe's decoders compute in f32 whatever their stored dtype, so the log-softmax
 * runs on f32 logits, as TRL's upcast gives.
 */
export function sequenceLogProbs(model: CausalLM, batch: Batch): Tensor {
  const perToken = crossEntropy(model.forward(batch.inputs), batch.targets, { reduction: 'none' });
  return neg(sum(perToken, { axis: 1 }));
}

/** A preference pair as token ids: one prompt and two completions. */
export interface PreferenceIds {
  prompt: Int32Array;
  chosen: Int32Array;
  rejected: Int32Array;
  tie: boolean;
}

/** A pair of texts tokenised as TRL does (see encodeCompletion): the prompt once, each completion ending in EOS. */
export function encodePreference(
  tokenizer: LitheTokenizer,
  row: { prompt: string; chosen: string; rejected: string; tie?: boolean },
): PreferenceIds {
  const chosen = encodeCompletion(tokenizer, row.prompt, row.chosen);
  return {
    prompt: chosen.prompt,
    chosen: chosen.completion,
    rejected: encodeCompletion(tokenizer, row.prompt, row.rejected).completion,
    tie: row.tie === true,
  };
}

/** B pairs laid out for one forward pass, as TRL's concatenated_forward. */
export interface PreferenceBatch {
  /** [2B, T]: the B chosen sequences, then the B rejected ones, each prompt ++ completion (completionBatch). */
  sequences: Batch;
  /** Completion tokens per sequence, [2B]. */
  tokens: Float32Array;
  /** Per pair: whether it is a tie. */
  ties: readonly boolean[];
  /** Data-set index of each pair, [B]: where precomputed reference log-probabilities are looked up. */
  rows: readonly number[];
}

export interface PreferenceLayout {
  /** Prompt plus completion tokens kept per sequence; longer completions are cut at the end (default 512). */
  maxLength?: number;
  /** Input id of the padding past a sequence's end (default 0). */
  padTokenId?: number;
}

/** Every pair fits the layout (a prompt that leaves room for an answer, no empty answer), checked up front. */
export function checkPairs(pairs: readonly PreferenceIds[], layout: PreferenceLayout): void {
  const maxLength = layout.maxLength ?? 512;
  for (const [i, pair] of pairs.entries()) {
    for (const side of ['chosen', 'rejected'] as const) {
      keptLength({ prompt: pair.prompt, completion: pair[side] }, maxLength, `pair ${i + 1} (${side})`);
    }
  }
}

/** The pairs `rows` of `pairs` as one PreferenceBatch. */
export function preferenceBatch(
  pairs: readonly PreferenceIds[],
  rows: readonly number[],
  layout: PreferenceLayout = {},
): PreferenceBatch {
  const picked = rows.map((i) => pairs[i]);
  const sequences = [
    ...picked.map((p) => ({ prompt: p.prompt, completion: p.chosen })),
    ...picked.map((p) => ({ prompt: p.prompt, completion: p.rejected })),
  ];
  const { batch, tokens } = completionBatch(sequences, { maxLength: layout.maxLength ?? 512, ...layout });
  return { sequences: batch, tokens, ties: picked.map((p) => p.tie), rows };
}

export interface PreferenceBatcherOptions extends PreferenceLayout {
  /** Pairs per batch (each pair is two sequences). */
  batchSize: number;
  /** Seed of the per-epoch shuffle (default 0). */
  seed?: number;
}

/** Batches of preference pairs, each epoch in a seeded shuffle. */
export class PreferenceBatcher implements Batcher<PreferenceBatch, EpochOrderState> {
  readonly batchSize: number;
  private readonly order: EpochOrder;

  constructor(
    private readonly pairs: readonly PreferenceIds[],
    private readonly options: PreferenceBatcherOptions,
  ) {
    this.batchSize = positiveInteger(options.batchSize, 'batchSize');
    if (pairs.length === 0) throw new PreferenceError('no preference pairs to train on');
    checkPairs(pairs, options);
    this.order = new EpochOrder(pairs.length, options.seed ?? 0, 'pairs');
  }

  next(): PreferenceBatch {
    const rows = Array.from({ length: this.batchSize }, () => this.order.next());
    return preferenceBatch(this.pairs, rows, this.options);
  }

  getState(): EpochOrderState {
    return this.order.getState();
  }

  setState(state: EpochOrderState): void {
    this.order.setState(state);
  }
}

/** Sequence log-probabilities of every pair of a data set, by pair index (sums over completion tokens). */
export interface PairLogProbTable {
  chosen: Float64Array;
  rejected: Float64Array;
}

/** The chosen and rejected halves of a [2B] vector. */
function halves(x: Tensor): [Tensor, Tensor] {
  const b = x.size / 2;
  return [slice(x, 0, 0, b), slice(x, 0, b, 2 * b)];
}

/** The reference's log-probabilities of a batch, [2B]: looked up when precomputed, else a forward without gradients. */
export function referenceLogProbs(reference: CausalLM | PairLogProbTable, batch: PreferenceBatch): Tensor {
  if ('chosen' in reference) {
    const values = [...batch.rows.map((r) => reference.chosen[r]), ...batch.rows.map((r) => reference.rejected[r])];
    return new Tensor(Float32Array.from(values), [values.length], 'f32');
  }
  return noGrad(() => sequenceLogProbs(reference, batch.sequences));
}

/** The mean of x over the rows where `mask` holds, or NaN when none does (a scalar, detached). */
function maskedMean(x: Tensor, mask: readonly boolean[]): Tensor {
  const count = mask.filter(Boolean).length;
  if (count === 0) return scalar(Number.NaN);
  const weights = new Tensor(
    Float32Array.from(mask, (m) => (m ? 1 : 0)),
    [mask.length],
    'f32',
  );
  return div(sum(mul(x.detach(), weights)), count);
}

/**
 * train()'s loss for preference alignment: one forward of the policy over the batch's 2B sequences, the reference's
 * log-probabilities (a frozen model, or precomputed), and the mean preferenceLoss. Only todo has a tie term; the other losses train a tie pair as an
 * ordinary pair, its `chosen` answer preferred (as DPO baselines on data with ties do). Its metrics are TRL's (means over the batch): rewards/chosen,
 * rewards/rejected, rewards/margins, rewards/accuracies (chosen reward above rejected; todo leaves its ties out), logps/chosen,
 * logps/rejected, plus ties/share and ties/loss (the mean loss over tie pairs).
 */
export function preferenceObjective(
  reference: CausalLM | PairLogProbTable,
  options: PreferenceLossOptions = {},
): LossFn<CausalLM, PreferenceBatch> {
  const resolved = preferenceDefaults(options);
  return (model: CausalLM, batch: PreferenceBatch): LossWithMetrics => {
    const policy = sequenceLogProbs(model, batch.sequences);
    const ref = referenceLogProbs(reference, batch);
    const [chosenTokens, rejectedTokens] = halves(new Tensor(batch.tokens, [batch.tokens.length], 'f32'));
    const [policyChosen, policyRejected] = halves(policy);
    const [referenceChosen, referenceRejected] = halves(ref);
    // The DPO family has no tie term: it trains a tie pair as an ordinary one, its first answer preferred.
    const tieTerm = resolved.loss === 'todo' && batch.ties.some(Boolean);
    const tie = tieTerm ? new Tensor(Float32Array.from(batch.ties, Number), [batch.ties.length], 'f32') : undefined;
    const logps = { policyChosen, policyRejected, referenceChosen, referenceRejected, chosenTokens, rejectedTokens };
    const result = preferenceLoss({ ...logps, tie }, resolved);
    // The pairs the loss treats as preferences: all of them, except todo's ties (as in TRL, which has no ties).
    const preferred = batch.ties.map((t) => !(tieTerm && t));
    return {
      loss: mean(result.losses),
      metrics: {
        'rewards/chosen': mean(result.chosenRewards),
        'rewards/rejected': mean(result.rejectedRewards),
        'rewards/margins': mean(sub(result.chosenRewards, result.rejectedRewards)),
        'rewards/accuracies': maskedMean(gt(result.chosenRewards, result.rejectedRewards).to('f32'), preferred),
        'logps/chosen': mean(policyChosen.detach()),
        'logps/rejected': mean(policyRejected.detach()),
        'ties/share': scalar(batch.ties.filter(Boolean).length / batch.ties.length),
        'ties/loss': maskedMean(result.losses, batch.ties),
      },
    };
  };
}

/** Tokens a preference batch runs through the policy (train()'s `tokens`): both sequences of every pair, B × 2 × T. */
export function preferenceTokens(batch: PreferenceBatch): number {
  return batch.sequences.inputs.size;
}
