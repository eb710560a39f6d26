import { type AnswerProblem, hasFinalAnswer, isCorrectAnswer } from '../data/preference.js';
import { LitheError } from '../engine/errors.js';
import { type OnProgress, progressReporter, throwIfAborted, yieldOrAbort } from '../engine/progress.js';
import type { LitheTokenizer } from '../io/tokenizer.js';
import { generate, type IncrementalLM } from '../models/generate.js';

/** What answering needs of a tokenizer. */
export type AnswerTokenizer = Pick<LitheTokenizer, 'encode' | 'decode' | 'eosTokenId'>;

export interface AnswerAccuracyOptions {
  /** Most tokens generated per problem (default 96). */
  maxNewTokens?: number;
  /** Encode prompts with the tokenizer's special tokens (BOS for LLaMA-style ones), as `lithe generate` does; default true. */
  addSpecialTokens?: boolean;
  onProgress?: OnProgress;
  /** Aborting stops between problems with an OperationAbortedError. */
  signal?: AbortSignal;
}

/** One problem as answered: the generated text (special tokens dropped) and whether its final answer is right. */
export interface AnswerSample {
  prompt: string;
  output: string;
  answer: string;
  correct: boolean;
}

export interface AnswerAccuracyResult {
  /** correct / total. */
  accuracy: number;
  correct: number;
  total: number;
  /** Per problem, in order. */
  samples: AnswerSample[];
}

/**
 * Answer accuracy: greedy decoding from each prompt until EOS (when the tokenizer has one), a complete "So the answer
 * is N." (hasFinalAnswer), or maxNewTokens; a problem is correct when the output's final answer (extractAnswer) is the
 * true one. Yields to the event loop and reports progress after each problem.
 */
export async function answerAccuracy(
  model: IncrementalLM,
  tokenizer: AnswerTokenizer,
  problems: readonly AnswerProblem[],
  options: AnswerAccuracyOptions = {},
): Promise<AnswerAccuracyResult> {
  const { maxNewTokens = 96, addSpecialTokens = true } = options;
  if (problems.length === 0) throw new LitheError('answerAccuracy: no problems to answer');
  const decode = (ids: ArrayLike<number>) => tokenizer.decode(ids, { skipSpecialTokens: true });
  const stopTokenIds = tokenizer.eosTokenId === null ? [] : [tokenizer.eosTokenId];
  const report = progressReporter(options.onProgress, 'answers', problems.length, 'problem');
  const samples: AnswerSample[] = [];
  throwIfAborted(options.signal);
  for (const { prompt, answer } of problems) {
    const ids = generate(model, tokenizer.encode(prompt, { addSpecialTokens }), {
      maxNewTokens,
      stopTokenIds,
      stopWhen: (newIds) => hasFinalAnswer(decode(newIds)),
    });
    const output = decode(ids);
    samples.push({ prompt, output, answer, correct: isCorrectAnswer(output, answer) });
    report(samples.length);
    await yieldOrAbort(options.signal);
  }
  const correct = samples.filter((sample) => sample.correct).length;
  return { accuracy: correct / samples.length, correct, total: samples.length, samples };
}
