import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { LitheError } from '../engine/errors.js';
import { type OnProgress, progressReporter } from '../engine/progress.js';
import { writeFileAtomic } from '../io/atomic.js';
import { TokenizerError } from '../io/tokenizer.js';
import { BYTE_TO_CHAR, preTokenize } from './byte-level.js';

/** BPE training options it cannot work with: a vocabulary smaller than its alphabet, a bad special token. */
export class BpeTrainingError extends LitheError {}

export interface TrainBpeOptions {
  /** Tokens wanted, special tokens and the 256 byte characters included; fewer when the corpus runs out of pairs. */
  vocabSize: number;
  /** Pairs seen fewer times than this are never merged. Default 0, as in Python `tokenizers`. */
  minFrequency?: number;
  /** Added tokens with ids 0, 1, ... in this order. Default `['<|endoftext|>']`, GPT-2's BOS and EOS. */
  specialTokens?: string[];
  onProgress?: OnProgress;
}

export interface AddedTokenJson {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

/** A ByteLevel pre-tokenizer, post-processor or decoder entry of tokenizer.json. */
export interface ByteLevelJson {
  type: 'ByteLevel';
  add_prefix_space: boolean;
  trim_offsets: boolean;
  use_regex: boolean;
}

/** A GPT-2-style byte-level BPE tokenizer.json, field for field as Python `tokenizers` saves one. */
export interface BpeTokenizerJson {
  version: '1.0';
  truncation: null;
  padding: null;
  added_tokens: AddedTokenJson[];
  normalizer: null;
  pre_tokenizer: ByteLevelJson;
  post_processor: ByteLevelJson;
  decoder: ByteLevelJson;
  model: {
    type: 'BPE';
    dropout: null;
    unk_token: null;
    continuing_subword_prefix: null;
    end_of_word_suffix: null;
    fuse_unk: false;
    byte_fallback: false;
    ignore_merges: false;
    vocab: Record<string, number>;
    merges: [string, string][];
  };
}

/** A pair waiting to be merged: the count it had when queued, and the words it was found in then. */
interface QueuedPair {
  pair: number;
  count: number;
  words: Set<number>;
}

/** A binary max-heap of pairs in Python's `BpeTrainer` order: higher count first, then the smaller pair of ids. */
class PairQueue {
  private readonly heap: QueuedPair[] = [];

  get size(): number {
    return this.heap.length;
  }

  push(entry: QueuedPair): void {
    const heap = this.heap;
    let i = heap.push(entry) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(entry, heap[parent])) break;
      heap[i] = heap[parent];
      i = parent;
    }
    heap[i] = entry;
  }

  pop(): QueuedPair {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop() as QueuedPair;
    if (heap.length === 0) return top;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= heap.length) break;
      if (child + 1 < heap.length && this.before(heap[child + 1], heap[child])) child++;
      if (!this.before(heap[child], last)) break;
      heap[i] = heap[child];
      i = child;
    }
    heap[i] = last;
    return top;
  }

  // A pair's key orders pairs as (first id, second id) does, since every id is below the key's stride.
  private before(a: QueuedPair, b: QueuedPair): boolean {
    return a.count > b.count || (a.count === b.count && a.pair < b.pair);
  }
}

// Pairs are keyed `first * vocabSize + second`, which stays an exact double below 2^53.
const MAX_VOCAB_SIZE = 2 ** 26;

const MERGE_PHASE = 'bpe merges';

const BYTE_LEVEL: ByteLevelJson = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };

/**
 * Train a GPT-2-style byte-level BPE on `documents` with Python `tokenizers`' algorithm (`BpeTrainer` with the
 * ByteLevel alphabet, `BPE()`, `ByteLevel(add_prefix_space=False)`), so vocab and merges come out the same:
 * special tokens first, then the 256 byte characters in code-point order, then one token per merge of the most
 * frequent adjacent pair (ties to the smaller pair of ids) over the pre-tokenized words' counts.
 */
export function trainBpe(documents: readonly string[], options: TrainBpeOptions): BpeTokenizerJson {
  const { vocabSize, minFrequency = 0, specialTokens = ['<|endoftext|>'], onProgress } = options;
  checkOptions(vocabSize, minFrequency, specialTokens);
  const ids = new Map<string, number>();
  const tokens: string[] = [];
  const tokenId = (token: string): number => {
    let id = ids.get(token);
    if (id === undefined) {
      id = tokens.length;
      ids.set(token, id);
      tokens.push(token);
    }
    return id;
  };
  for (const token of specialTokens) tokenId(token);
  for (const char of [...BYTE_TO_CHAR].sort()) tokenId(char);
  if (tokens.length > vocabSize) {
    throw new BpeTrainingError(
      `vocabSize ${vocabSize} is below the ${tokens.length} tokens every vocabulary holds (256 bytes + special tokens)`,
    );
  }
  const byteIds = BYTE_TO_CHAR.map(tokenId);

  const encoder = new TextEncoder();
  const wordCounts = countWords(documents, onProgress);
  const words: Int32Array[] = [];
  const counts: number[] = [];
  for (const [word, count] of wordCounts) {
    words.push(Int32Array.from(encoder.encode(word), (byte) => byteIds[byte]));
    counts.push(count);
  }
  const lengths = Int32Array.from(words, (symbols) => symbols.length);

  // Every id stays below vocabSize, so `first * stride + second` names a pair in one number.
  const stride = vocabSize;
  const pairCounts = new Map<number, number>();
  // Pairs that gained occurrences since the last enqueue, with the words they gained them in.
  const grown = new Map<number, Set<number>>();
  const addPair = (pair: number, delta: number, word: number): void => {
    pairCounts.set(pair, (pairCounts.get(pair) ?? 0) + delta);
    if (delta <= 0) return;
    let where = grown.get(pair);
    if (where === undefined) grown.set(pair, (where = new Set()));
    where.add(word);
  };
  const queue = new PairQueue();
  const enqueueGrown = (): void => {
    for (const [pair, where] of grown) {
      const count = pairCounts.get(pair) as number;
      if (count > 0) queue.push({ pair, count, words: where });
    }
    grown.clear();
  };
  words.forEach((symbols, word) => {
    for (let i = 0; i + 1 < symbols.length; i++) addPair(symbols[i] * stride + symbols[i + 1], counts[word], word);
  });
  enqueueGrown();

  // Merge every occurrence left to right, reporting each changed neighbour pair as Python's `Word::merge` does.
  const mergeInWord = (word: number, first: number, second: number, merged: number): void => {
    const symbols = words[word];
    const length = lengths[word];
    const count = counts[word];
    let out = 0;
    for (let i = 0; i < length; ) {
      if (symbols[i] === first && i + 1 < length && symbols[i + 1] === second) {
        if (out > 0) {
          addPair(symbols[out - 1] * stride + first, -count, word);
          addPair(symbols[out - 1] * stride + merged, count, word);
        }
        if (i + 2 < length) {
          addPair(second * stride + symbols[i + 2], -count, word);
          addPair(merged * stride + symbols[i + 2], count, word);
        }
        symbols[out++] = merged;
        i += 2;
      } else {
        symbols[out++] = symbols[i++];
      }
    }
    lengths[word] = out;
  };

  const mergedPairs: number[] = [];
  const alphabetSize = tokens.length;
  const report = progressReporter(onProgress, MERGE_PHASE, vocabSize - alphabetSize, 'tokens');
  while (tokens.length < vocabSize && queue.size > 0) {
    const top = queue.pop();
    const count = pairCounts.get(top.pair) as number;
    if (top.count !== count) {
      // Queued before some of its occurrences were merged away: requeue at its current count.
      top.count = count;
      queue.push(top);
      continue;
    }
    if (count < 1 || count < minFrequency) break;
    const first = Math.floor(top.pair / stride);
    const second = top.pair % stride;
    const merged = tokenId(tokens[first] + tokens[second]);
    mergedPairs.push(top.pair);
    for (const word of top.words) mergeInWord(word, first, second, merged);
    enqueueGrown();
    report(tokens.length - alphabetSize);
  }
  // A corpus that runs out of pairs stops short of vocabSize: report that end so a progress bar completes.
  if (tokens.length < vocabSize) {
    const done = tokens.length - alphabetSize;
    onProgress?.({ phase: MERGE_PHASE, done, total: done, unit: 'tokens' });
  }

  // Python keeps merges in a map from pair to rank, so a pair merged twice keeps only its last rank.
  const lastRank = new Map(mergedPairs.map((pair, rank) => [pair, rank]));
  const merges = [...lastRank]
    .sort((a, b) => a[1] - b[1])
    .map(([pair]): [string, string] => [tokens[Math.floor(pair / stride)], tokens[pair % stride]]);

  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specialTokens.map((content) => ({
      id: ids.get(content) as number,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: { ...BYTE_LEVEL },
    post_processor: { ...BYTE_LEVEL, add_prefix_space: true, trim_offsets: false },
    decoder: { ...BYTE_LEVEL, add_prefix_space: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(tokens.map((token, id) => [token, id])),
      merges,
    },
  };
}

function checkOptions(vocabSize: number, minFrequency: number, specialTokens: readonly string[]): void {
  if (!Number.isInteger(vocabSize) || vocabSize <= 0 || vocabSize > MAX_VOCAB_SIZE) {
    throw new BpeTrainingError(`vocabSize must be an integer in [1, ${MAX_VOCAB_SIZE}], got ${vocabSize}`);
  }
  if (!Number.isSafeInteger(minFrequency) || minFrequency < 0) {
    throw new BpeTrainingError(`minFrequency must be a non-negative integer, got ${minFrequency}`);
  }
  specialTokens.forEach((token, i) => {
    if (token === '') throw new BpeTrainingError('a special token cannot be empty');
    if (specialTokens.indexOf(token) !== i) throw new BpeTrainingError(`special token '${token}' is listed twice`);
  });
}

/** How often each pre-tokenized piece occurs across the documents, in first-seen order. */
function countWords(documents: readonly string[], onProgress: OnProgress | undefined): Map<string, number> {
  const counts = new Map<string, number>();
  const report = progressReporter(onProgress, 'bpe word counts', documents.length, 'documents');
  documents.forEach((document, i) => {
    for (const word of preTokenize(document)) counts.set(word, (counts.get(word) ?? 0) + 1);
    report(i + 1);
  });
  return counts;
}

/** tokenizer.json's text as Python `tokenizers` writes it: compact JSON and a final newline. */
export function tokenizerJsonText(tokenizer: BpeTokenizerJson): string {
  return `${JSON.stringify(tokenizer)}\n`;
}

/** Write `tokenizer` as `dir/tokenizer.json` (creating `dir`), atomically; returns the file's path. */
export function saveTokenizerJson(tokenizer: BpeTokenizerJson, dir: string): string {
  const file = join(dir, 'tokenizer.json');
  try {
    mkdirSync(dir, { recursive: true });
    writeFileAtomic(file, tokenizerJsonText(tokenizer));
  } catch (err) {
    throw new TokenizerError(file, `cannot write (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return file;
}
