import { noGrad } from '../engine/autograd.js';
import { LitheError } from '../engine/errors.js';
import { type OnProgress, progressReporter, throwIfAborted, yieldOrAbort } from '../engine/progress.js';
import { Tensor } from '../engine/tensor.js';
import { logSoftmax } from '../ops/softmax.js';
import type { CausalLM } from './perplexity.js';

export interface ChoiceItem {
  context: string;
  choices: string[];
  /** Index of the correct choice. */
  answer: number;
}

/** What scoring needs of a tokenizer. */
export interface TextEncoder {
  encode(text: string): Int32Array;
  bosTokenId?: number | null;
  eosTokenId?: number | null;
}

export interface MultipleChoiceOptions {
  /** Put between context and choice, as lm-evaluation-harness's target_delimiter (default ' '). */
  targetDelimiter?: string;
  /** Longest input the model takes; longer inputs keep their end (default 2048). */
  maxLength?: number;
  onProgress?: OnProgress;
  /** Aborting stops between items with an OperationAbortedError. */
  signal?: AbortSignal;
}

export interface MultipleChoiceResult {
  /** Share of items whose highest summed log-probability choice is the answer. */
  acc: number;
  /** The same with each choice's log-probability divided by its UTF-8 byte length. */
  accNorm: number;
  items: number;
  seconds: number;
  /** Per item, in order: each choice's summed log-probability, and the choices acc and acc_norm picked. */
  perItem: ItemResult[];
}

/** One item's scores, as lm-evaluation-harness logs them with --log_samples. */
export interface ItemResult {
  logLikelihoods: number[];
  prediction: number;
  predictionNorm: number;
  answer: number;
}

const utf8 = new TextEncoder();

/**
 * Summed log-probability of `continuation` after `context`, tokenised as lm-evaluation-harness does:
 * encode the whole string, and count as continuation the tokens past the context's own encoding.
 */
export function continuationLogProb(
  model: CausalLM,
  tokenizer: TextEncoder,
  context: string,
  continuation: string,
  maxLength = 2048,
): number {
  // A trailing space on the context belongs to the continuation, as in the harness.
  const trimmed = context.replace(/\s+$/, '');
  const moved = context.slice(trimmed.length);
  const whole = tokenizer.encode(trimmed + moved + continuation);
  let contextIds = tokenizer.encode(trimmed);
  let contIds = whole.subarray(contextIds.length);
  if (contextIds.length === 0) {
    const start = tokenizer.bosTokenId ?? tokenizer.eosTokenId;
    if (start === null || start === undefined) {
      throw new LitheError('an empty context needs a BOS or EOS token to condition on');
    }
    contextIds = Int32Array.of(start);
    contIds = whole;
  }
  if (contIds.length === 0) throw new LitheError(`choice '${continuation}' encodes to no tokens`);
  const all = new Int32Array(contextIds.length + contIds.length);
  all.set(contextIds.subarray(0, contextIds.length), 0);
  all.set(contIds, contextIds.length);
  const input = all.subarray(Math.max(0, all.length - 1 - maxLength), all.length - 1);
  const logits = model.forward(new Tensor(Int32Array.from(input), [1, input.length], 'i32'));
  const logp = logSoftmax(logits).floatData(); // [1, L, V]
  const v = logits.shape[2];
  let total = 0;
  for (let i = 0; i < contIds.length; i++) {
    const pos = input.length - contIds.length + i;
    total += logp[pos * v + contIds[i]];
  }
  return total;
}

/** Index of the choice with the highest summed log-probability, and of the highest per UTF-8 byte. */
function bestChoices(
  model: CausalLM,
  tokenizer: TextEncoder,
  item: ChoiceItem,
  delimiter: string,
  maxLength: number | undefined,
): { best: number; bestNorm: number; logLikelihoods: number[] } {
  const logLikelihoods: number[] = [];
  let best = -1;
  let bestNorm = -1;
  let bestScore = Number.NEGATIVE_INFINITY;
  let bestNormScore = Number.NEGATIVE_INFINITY;
  item.choices.forEach((choice, c) => {
    const lp = continuationLogProb(model, tokenizer, item.context, delimiter + choice, maxLength);
    logLikelihoods.push(lp);
    const norm = lp / Math.max(1, utf8.encode(choice).length);
    if (lp > bestScore) [bestScore, best] = [lp, c];
    if (norm > bestNormScore) [bestNormScore, bestNorm] = [norm, c];
  });
  return { best, bestNorm, logLikelihoods };
}

/** Multiple-choice accuracy (acc and acc_norm) following lm-evaluation-harness; yields to the event loop per item. */
export async function multipleChoice(
  model: CausalLM,
  tokenizer: TextEncoder,
  items: ChoiceItem[],
  options: MultipleChoiceOptions = {},
): Promise<MultipleChoiceResult> {
  const delimiter = options.targetDelimiter ?? ' ';
  const start = performance.now();
  const report = progressReporter(options.onProgress, 'eval', items.length, 'item');
  let correct = 0;
  let correctNorm = 0;
  const perItem: ItemResult[] = [];
  throwIfAborted(options.signal);
  for (const [n, item] of items.entries()) {
    const { best, bestNorm, logLikelihoods } = noGrad(() =>
      bestChoices(model, tokenizer, item, delimiter, options.maxLength),
    );
    perItem.push({ logLikelihoods, prediction: best, predictionNorm: bestNorm, answer: item.answer });
    if (best === item.answer) correct++;
    if (bestNorm === item.answer) correctNorm++;
    report(n + 1);
    await yieldOrAbort(options.signal);
  }
  const count = Math.max(1, items.length);
  return {
    acc: correct / count,
    accNorm: correctNorm / count,
    items: items.length,
    seconds: (performance.now() - start) / 1000,
    perItem,
  };
}
