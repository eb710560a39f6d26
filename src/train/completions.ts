import { Tensor } from '../engine/tensor.js';
import type { LitheTokenizer } from '../io/tokenizer.js';
import { type Batch, type Batcher, EpochOrder, type EpochOrderState, positiveInteger } from './batches.js';
import { TrainError } from './loop.js';

/** crossEntropy's default ignoreIndex: a target that is not a completion token (prompt or padding). */
export const IGNORE_TARGET = -100;

/** A prompt and one completion of it, as token ids. */
export interface CompletionIds {
  prompt: Int32Array;
  completion: Int32Array;
}

/**
 * A prompt and its completion as TRL tokenises them: the prompt with the tokenizer's special tokens (BOS where it
 * adds one), the completion on its own, without them, followed by EOS when the tokenizer has one.
 */
export function encodeCompletion(tokenizer: LitheTokenizer, prompt: string, completion: string): CompletionIds {
  const eos = tokenizer.eosTokenId === null ? [] : [tokenizer.eosTokenId];
  return {
    prompt: tokenizer.encode(prompt, { addSpecialTokens: true }),
    completion: Int32Array.from([...tokenizer.encode(completion), ...eos]),
  };
}

/** Tokens a row keeps once cut to maxLength: the prompt whole and at least one completion token, else an error. */
export function keptLength(row: CompletionIds, maxLength: number, what: string): number {
  if (row.completion.length === 0) throw new TrainError(`${what} has an empty completion`);
  if (row.prompt.length === 0) throw new TrainError(`${what} has an empty prompt (the first token is never scored)`);
  if (row.prompt.length >= maxLength) {
    throw new TrainError(
      `${what}: its prompt of ${row.prompt.length} tokens leaves no room within maxLength ${maxLength}`,
    );
  }
  return Math.min(row.prompt.length + row.completion.length, maxLength);
}

/**
 * Rows as one right-padded next-token batch: row r is prompt ++ completion cut to maxLength tokens; inputs [R, T] are
 * its tokens but the last, targets [R, T] the tokens after them, IGNORE_TARGET where the target is a prompt token or
 * padding, so that a cross entropy (or a log-probability sum) counts completion tokens only. T is the longest kept
 * row minus one; causal attention keeps padding on the right from changing the real tokens' logits.
 */
export function completionBatch(
  rows: readonly CompletionIds[],
  options: { maxLength: number; padTokenId?: number },
): {
  batch: Batch;
  /** Completion tokens scored per row, [R]. */
  tokens: Float32Array;
} {
  const { maxLength, padTokenId = 0 } = options;
  const lengths = rows.map((row, i) => keptLength(row, maxLength, `row ${i}`));
  const t = Math.max(...lengths) - 1;
  const inputs = new Int32Array(rows.length * t).fill(padTokenId);
  const targets = new Int32Array(rows.length * t).fill(IGNORE_TARGET);
  const tokens = new Float32Array(rows.length);
  rows.forEach((row, r) => {
    const sequence = new Int32Array(lengths[r]);
    sequence.set(row.prompt);
    sequence.set(row.completion.subarray(0, lengths[r] - row.prompt.length), row.prompt.length);
    inputs.set(sequence.subarray(0, lengths[r] - 1), r * t);
    // The target at position j is token j + 1: the completion's targets start at position prompt.length - 1.
    targets.set(sequence.subarray(row.prompt.length), r * t + row.prompt.length - 1);
    tokens[r] = lengths[r] - row.prompt.length;
  });
  return {
    batch: {
      inputs: new Tensor(inputs, [rows.length, t], 'i32'),
      targets: new Tensor(targets, [rows.length, t], 'i32'),
    },
    tokens,
  };
}

export interface CompletionBatcherOptions {
  batchSize: number;
  /** Prompt plus completion tokens kept per row; longer completions are cut at the end (default 512). */
  maxLength?: number;
  /** Input id of the padding past a row's end; it is never a scored target (default 0). */
  padTokenId?: number;
  /** Seed of the per-epoch shuffle (default 0). */
  seed?: number;
}

/**
 * Supervised fine-tuning batches: each epoch visits the rows in a seeded shuffle and lays batchSize of them out with
 * completionBatch, so causalLmLoss is the mean cross entropy over completion tokens only, the prompts masked (TRL's
 * SFTTrainer with completion_only_loss).
 */
export class CompletionBatcher implements Batcher<Batch, EpochOrderState> {
  readonly batchSize: number;
  readonly maxLength: number;
  private readonly order: EpochOrder;

  constructor(
    private readonly rows: readonly CompletionIds[],
    private readonly options: CompletionBatcherOptions,
  ) {
    this.batchSize = positiveInteger(options.batchSize, 'batchSize');
    this.maxLength = positiveInteger(options.maxLength ?? 512, 'maxLength');
    if (rows.length === 0) throw new TrainError('no rows to train on');
    for (const [i, row] of rows.entries()) keptLength(row, this.maxLength, `row ${i + 1}`);
    this.order = new EpochOrder(rows.length, options.seed ?? 0, 'rows');
  }

  next(): Batch {
    const picked = Array.from({ length: this.batchSize }, () => this.rows[this.order.next()]);
    return completionBatch(picked, { maxLength: this.maxLength, padTokenId: this.options.padTokenId }).batch;
  }

  getState(): EpochOrderState {
    return this.order.getState();
  }

  setState(state: EpochOrderState): void {
    this.order.setState(state);
  }
}
