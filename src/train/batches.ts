import { Rng } from '../engine/rng.js';
import { Tensor } from '../engine/tensor.js';
import { TrainError } from './loop.js';

/** One micro-batch for causal LM training: inputs [B, T] and the next tokens, targets [B, T] (both i32). */
export interface Batch {
  inputs: Tensor;
  targets: Tensor;
}

/**
 * What the training loop needs from a data source of batches B. The state must be JSON-serialisable and capture
 * everything that decides later batches, so that a resumed run sees exactly the batches it would have.
 */
export interface Batcher<B = Batch, S = unknown> {
  next(): B;
  getState(): S;
  setState(state: S): void;
}

export interface TokenBatcherOptions {
  batchSize: number;
  seqlen: number;
  /** Seed of the per-epoch shuffle (default 0). */
  seed?: number;
}

/** Where an epoch-shuffled walk over a data set stands; JSON-serialisable. */
export interface EpochOrderState {
  epoch: number;
  /** Items of the current epoch already handed out. */
  position: number;
  /** The generator as it was just before this epoch's shuffle, so restoring it reproduces the order. */
  rng: ReturnType<Rng['getState']>;
}

export type TokenBatcherState = EpochOrderState;

/**
 * The items 0..count-1 of a data set, visited in a fresh seeded shuffle each epoch; a walk that runs past the end of
 * an epoch continues with the next epoch's order. Shared by every batcher, so that each resumes the same way.
 */
export class EpochOrder {
  private readonly rng: Rng;
  private epoch = 0;
  private position = 0;
  private epochStartRng: EpochOrderState['rng'];
  private order: number[] = [];

  constructor(
    readonly count: number,
    seed: number,
    /** What the items are, for messages ('windows', 'rows', 'pairs'). */
    private readonly items = 'items',
  ) {
    this.rng = new Rng(seed);
    this.epochStartRng = this.rng.getState();
    this.shuffle();
  }

  /** The next item's index. */
  next(): number {
    if (this.position === this.count) {
      this.epoch += 1;
      this.position = 0;
      this.epochStartRng = this.rng.getState();
      this.shuffle();
    }
    return this.order[this.position++];
  }

  getState(): EpochOrderState {
    return { epoch: this.epoch, position: this.position, rng: structuredClone(this.epochStartRng) };
  }

  setState(state: EpochOrderState): void {
    if (!(Number.isInteger(state.position) && state.position >= 0 && state.position <= this.count)) {
      throw new TrainError(`batcher position ${state.position} does not fit ${this.count} ${this.items}`);
    }
    this.rng.setState(state.rng);
    this.epochStartRng = structuredClone(state.rng);
    this.epoch = state.epoch;
    this.position = state.position;
    this.shuffle();
  }

  /** Draw the current epoch's order from the generator. */
  private shuffle(): void {
    this.order = this.rng.shuffle(Array.from({ length: this.count }, (_, i) => i));
  }
}

export function positiveInteger(value: number, what: string): number {
  if (!(Number.isInteger(value) && value > 0)) throw new TrainError(`${what} must be a positive integer, got ${value}`);
  return value;
}

/**
 * Batches of a token stream: the stream is cut into non-overlapping windows of seqlen + 1 tokens
 * (inputs are a window's first T, targets its last T), and each epoch visits them in a seeded shuffle.
 * A batch that runs past the end of an epoch continues with the next epoch's order.
 */
export class TokenBatcher implements Batcher<Batch, TokenBatcherState> {
  readonly batchSize: number;
  readonly seqlen: number;
  /** Number of windows in one epoch. */
  readonly windows: number;
  private readonly order: EpochOrder;

  constructor(
    private readonly ids: Int32Array,
    options: TokenBatcherOptions,
  ) {
    this.batchSize = positiveInteger(options.batchSize, 'batchSize');
    this.seqlen = positiveInteger(options.seqlen, 'seqlen');
    // Each window needs one token past its inputs for the last target.
    this.windows = Math.floor((ids.length - 1) / this.seqlen);
    if (this.windows < 1) {
      throw new TrainError(`${ids.length} tokens are too few for one window of seqlen ${this.seqlen} (+1 target)`);
    }
    this.order = new EpochOrder(this.windows, options.seed ?? 0, 'windows');
  }

  /** The next [B, T] inputs and targets. */
  next(): Batch {
    const { batchSize: b, seqlen: t } = this;
    const inputs = new Int32Array(b * t);
    const targets = new Int32Array(b * t);
    for (let row = 0; row < b; row++) {
      const start = this.order.next() * t;
      inputs.set(this.ids.subarray(start, start + t), row * t);
      targets.set(this.ids.subarray(start + 1, start + t + 1), row * t);
    }
    return { inputs: new Tensor(inputs, [b, t], 'i32'), targets: new Tensor(targets, [b, t], 'i32') };
  }

  getState(): TokenBatcherState {
    return this.order.getState();
  }

  setState(state: TokenBatcherState): void {
    this.order.setState(state);
  }
}
