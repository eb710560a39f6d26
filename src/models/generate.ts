import { allocate, kernelsFor } from '../backends/kernels.js';
import { noGrad } from '../engine/autograd.js';
import { LitheError } from '../engine/errors.js';
import { Rng } from '../engine/rng.js';
import { Tensor } from '../engine/tensor.js';
import { gather } from '../ops/indexing.js';
import { argmax } from '../ops/reduce.js';
import { sort, topk } from '../ops/sort.js';
import { reshape, slice } from '../ops/views.js';
import type { KVCache } from './llama/model.js';

/** What generation needs of a model: logits [1, T, V] for ids [1, T], continuing a KV cache. */
export interface IncrementalLM {
  forward(ids: Tensor, cache?: KVCache): Tensor;
  newCache(): KVCache;
}

export interface GenerateOptions {
  maxNewTokens?: number;
  /** 0 (default) is greedy decoding. */
  temperature?: number;
  /** Keep only the k most likely tokens (0 = no limit). */
  topK?: number;
  /** Keep the smallest set of tokens whose probability reaches p (1 = no limit). */
  topP?: number;
  seed?: number;
  /** Stop after emitting any of these ids. */
  stopTokenIds?: number[];
  /** Called with each new token id as it is produced. */
  onToken?: (id: number) => void;
  /** Stop once this is true of the new ids so far (asked after each token; e.g. a complete answer was written). */
  stopWhen?: (newIds: readonly number[]) => boolean;
}

/** Generation options or a prompt generate cannot use; names the option and what it accepts. */
export class GenerationError extends LitheError {}

/** Throws a GenerationError for the first option outside its range, before any token is computed. */
function checkOptions(options: GenerateOptions): void {
  const { maxNewTokens, temperature, topK, topP, seed, stopTokenIds } = options;
  const bad = (name: string, value: unknown, allowed: string) =>
    new GenerationError(`generate: ${name} must be ${allowed}, got ${String(value)}`);
  if (maxNewTokens !== undefined && !(Number.isInteger(maxNewTokens) && maxNewTokens >= 0)) {
    throw bad('maxNewTokens', maxNewTokens, 'an integer >= 0');
  }
  if (temperature !== undefined && !(temperature >= 0 && Number.isFinite(temperature))) {
    throw bad('temperature', temperature, 'a finite number >= 0 (0 is greedy)');
  }
  if (topK !== undefined && !(Number.isInteger(topK) && topK >= 0)) {
    throw bad('topK', topK, 'an integer >= 0 (0 keeps every token)');
  }
  if (topP !== undefined && !(topP > 0 && topP <= 1)) throw bad('topP', topP, 'in (0, 1] (1 keeps every token)');
  if (seed !== undefined && !Number.isFinite(seed)) throw bad('seed', seed, 'a finite number');
  const stop = stopTokenIds?.find((id) => !(Number.isInteger(id) && id >= 0));
  if (stop !== undefined) throw bad('stopTokenIds', stop, 'integers >= 0');
}

/**
 * Pick the next token from one row of logits [V], as transformers' temperature → top-k → top-p warpers: greedy (the
 * first largest logit) at temperature 0, else one draw of `rng` placed in the kept tokens' weights (sampleSorted).
 */
export function sampleToken(logits: Tensor, options: GenerateOptions, rng: Rng): number {
  const temperature = options.temperature ?? 0;
  if (temperature <= 0) return argmax(logits).item();
  const v = logits.size;
  const topK = options.topK && options.topK > 0 ? Math.min(options.topK, v) : v;
  // The kept logits largest first (equal ones by id), and their ids.
  const { values, indices } = topK < v ? topk(logits, topK) : sort(logits, { descending: true });
  const position = allocate('i32', 1);
  kernelsFor(values.dtype).sampleSorted(values.denseStorage(), temperature, options.topP ?? 1, rng.uniform(), position);
  return gather(indices, 0, new Tensor(position, [1], 'i32')).item();
}

/** Autoregressive generation with a KV cache; returns only the new token ids. */
export function generate(model: IncrementalLM, promptIds: Int32Array, options: GenerateOptions = {}): Int32Array {
  if (promptIds.length === 0) throw new GenerationError('generate: the prompt is empty (it needs at least one token)');
  checkOptions(options);
  const maxNew = options.maxNewTokens ?? 64;
  const rng = new Rng(options.seed ?? 0);
  const stop = new Set(options.stopTokenIds ?? []);
  const out: number[] = [];
  noGrad(() => {
    const cache = model.newCache();
    let input = new Tensor(Int32Array.from(promptIds), [1, promptIds.length], 'i32');
    for (let step = 0; step < maxNew; step++) {
      const logits = model.forward(input, cache);
      const [, t, v] = logits.shape;
      const next = sampleToken(reshape(slice(logits, 1, t - 1, t), [v]), options, rng);
      out.push(next);
      options.onToken?.(next);
      if (stop.has(next) || options.stopWhen?.(out)) break;
      input = new Tensor(Int32Array.of(next), [1, 1], 'i32');
    }
  });
  return Int32Array.from(out);
}
