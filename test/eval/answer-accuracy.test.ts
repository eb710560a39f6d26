import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { arithmeticAnswerProblems, arithmeticSft, extractAnswer, isCorrectAnswer } from '../../src/data/preference.js';
import { OperationAbortedError } from '../../src/engine/errors.js';
import type { Progress } from '../../src/engine/progress.js';
import { answerAccuracy } from '../../src/eval/answer-accuracy.js';
import { loadDecoder } from '../../src/io/checkpoint.js';
import { loadTokenizer } from '../../src/io/tokenizer.js';
import { EMBEDDED_MODEL_DIR } from '../../src/models/embedded.js';
import { generate } from '../../src/models/generate.js';

const tokenizer = loadTokenizer(EMBEDDED_MODEL_DIR);
const model = await loadDecoder(EMBEDDED_MODEL_DIR);

describe('answerAccuracy on the embedded model', () => {
  it('answers held-out problems greedily and scores each output, reporting progress per problem', async () => {
    const problems = arithmeticAnswerProblems(2, { split: 'test' });
    const progress: Progress[] = [];
    const result = await answerAccuracy(model, tokenizer, problems, {
      maxNewTokens: 8,
      onProgress: (p) => progress.push(p),
    });
    assert.equal(result.total, 2);
    assert.equal(result.samples.length, 2);
    assert.equal(result.correct, result.samples.filter((s) => s.correct).length);
    assert.equal(result.accuracy, result.correct / result.total);
    assert.deepEqual(
      progress.map((p) => [p.phase, p.done, p.total, p.unit]),
      [
        ['answers', 1, 2, 'problem'],
        ['answers', 2, 2, 'problem'],
      ],
    );
    for (const [i, sample] of result.samples.entries()) {
      assert.equal(sample.prompt, problems[i].prompt);
      assert.equal(sample.answer, problems[i].answer);
      assert.equal(sample.correct, isCorrectAnswer(sample.output, sample.answer));
      // The output is the greedy continuation, as generate gives it (no EOS or final answer came within 8 tokens).
      const ids = generate(model, tokenizer.encode(sample.prompt), { maxNewTokens: 8 });
      assert.equal(sample.output, tokenizer.decode(ids, { skipSpecialTokens: true }));
    }
    // lithe-tiny knows no arithmetic (sotu only): its outputs hold no final answer.
    assert.equal(result.correct, 0);
  });

  it('stops between problems when aborted, and refuses an empty list', async () => {
    const controller = new AbortController();
    const problems = arithmeticAnswerProblems(3, { split: 'val' });
    let done = 0;
    await assert.rejects(
      answerAccuracy(model, tokenizer, problems, {
        maxNewTokens: 2,
        signal: controller.signal,
        onProgress: (p) => {
          done = p.done;
          controller.abort();
        },
      }),
      OperationAbortedError,
    );
    assert.equal(done, 1);
    await assert.rejects(answerAccuracy(model, tokenizer, []), /no problems/);
  });

  it("generate's stopWhen ends decoding at the first new ids it accepts", () => {
    const prompt = tokenizer.encode(arithmeticAnswerProblems(1)[0].prompt);
    const full = generate(model, prompt, { maxNewTokens: 6 });
    const seen: number[] = [];
    const stopped = generate(model, prompt, {
      maxNewTokens: 6,
      stopWhen: (ids) => {
        seen.push(ids.length);
        return ids.length === 3;
      },
    });
    assert.deepEqual([...stopped], [...full.slice(0, 3)]);
    assert.deepEqual(seen, [1, 2, 3]);
  });

  it('scores the text of real solutions: each SFT completion carries its answer', () => {
    for (const { prompt, completion } of arithmeticSft(50, { split: 'test' })) {
      const answer = extractAnswer(completion);
      assert.match(answer ?? '', /^\d+$/, completion);
      assert.ok(isCorrectAnswer(`${prompt}${completion}`, answer!));
      assert.ok(!isCorrectAnswer(completion, String(Number(answer) + 1)));
    }
  });
});
