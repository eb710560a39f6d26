import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { arithmeticProblems } from '../../src/data/arithmetic.js';
import { DataError } from '../../src/data/corpora.js';
import {
  arithmeticAnswerProblems,
  arithmeticPreferences,
  arithmeticSft,
  correctRewordings,
  extractAnswer,
  hasFinalAnswer,
  isCorrectAnswer,
  MISTAKES,
  type PreferenceRow,
  questionSplit,
  readPreferenceRows,
  readSftRows,
  SPLITS,
} from '../../src/data/preference.js';
import { formatJsonl } from '../../src/data/text-source.js';
import { evaluate } from '../helpers/arithmetic.js';

const dir = mkdtempSync(join(tmpdir(), 'lithe-preference-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function writeTemp(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

// A step: whole numbers joined by + − × ÷, then `= result`; a completion: ` {rationale}. So the answer is {n}.`
const STEP = /(\d+(?: [+−×÷] \d+)+) = (\d+)/g;
const COMPLETION = /^ (.+)\. So the answer is (\d+)\.$/s;

interface Parsed {
  rationale: string;
  answer: string;
  steps: { expression: string; operands: number[]; ops: string; result: number; right: boolean }[];
  /** The rationale with each step replaced by '#': its words. */
  words: string;
}

function parse(completion: string): Parsed {
  const match = COMPLETION.exec(completion);
  assert.ok(match, completion);
  const rationale = match[1];
  const steps = [...rationale.matchAll(STEP)].map(([, expression, result]) => ({
    expression,
    operands: expression
      .split(' ')
      .filter((_, i) => i % 2 === 0)
      .map(Number),
    ops: expression
      .split(' ')
      .filter((_, i) => i % 2 === 1)
      .join(''),
    result: Number(result),
    right: evaluate(expression) === Number(result),
  }));
  // Every `=` belongs to a parsed step, so none escapes the checks.
  assert.equal(steps.length, rationale.split('=').length - 1, rationale);
  return { rationale, answer: match[2], steps, words: rationale.replace(STEP, '#') };
}

/** A correct solution: every step right, the last one's result the answer, and that the true answer. */
function assertCorrect(completion: string, answer: string): void {
  const parsed = parse(completion);
  assert.ok(
    parsed.steps.every((s) => s.right),
    completion,
  );
  assert.equal(String(parsed.steps.at(-1)!.result), parsed.answer, completion);
  assert.equal(parsed.answer, answer, completion);
}

/** The numbers a slip makes of n: ±1, ±10, two adjacent digits swapped. */
function isSlip(n: number, wrong: number): boolean {
  const digits = String(n);
  const swaps = [...digits.slice(1)].map(
    (_, i) => digits.slice(0, i) + digits[i + 1] + digits[i] + digits.slice(i + 2),
  );
  return [n + 1, n - 1, n + 10, n - 10, ...swaps.map(Number)].includes(wrong) && wrong !== n;
}

/** Which listed mistake turns the correct completion into the wrong one, or 'none of them'. */
function mistakeKind(correctCompletion: string, wrongCompletion: string): string {
  const [correct, wrong] = [parse(correctCompletion), parse(wrongCompletion)];
  if (wrong.answer === correct.answer) return 'none of them (the answer is right)';
  if (wrong.rationale === correct.rationale) {
    const earlier = correct.steps.slice(0, -1).map((s) => s.result);
    return isSlip(Number(correct.answer), Number(wrong.answer)) || earlier.includes(Number(wrong.answer))
      ? 'wrong-answer'
      : 'none of them';
  }
  // A changed step keeps the words around it and the number of steps, and the final answer is its last result.
  if (wrong.words !== correct.words || wrong.steps.length !== correct.steps.length) return 'none of them';
  if (String(wrong.steps.at(-1)!.result) !== wrong.answer) return 'none of them';
  const first = wrong.steps.findIndex(
    (s, i) => s.expression !== correct.steps[i].expression || s.result !== correct.steps[i].result,
  );
  const mistaken = wrong.steps[first];
  const later = wrong.steps.slice(first + 1);
  const changedOps = wrong.steps.filter((s, i) => s.ops !== correct.steps[i].ops).length;
  const sameOperands = String(mistaken.operands) === String(correct.steps[first].operands);
  // Carried through: each later step is right (the chain stays consistent from the wrong value on).
  if (!later.every((s) => s.right)) return 'none of them';
  if (changedOps === 1 && mistaken.ops !== correct.steps[first].ops && mistaken.right && sameOperands) {
    return 'wrong-operation';
  }
  const carried = later.some((s) => s.operands.includes(mistaken.result));
  if (
    changedOps === 0 &&
    sameOperands &&
    !mistaken.right &&
    carried &&
    isSlip(correct.steps[first].result, mistaken.result)
  ) {
    return 'carried-error';
  }
  return 'none of them';
}

const KINDS = MISTAKES.map((m) => m.name);

describe('arithmeticSft', () => {
  it('lays problems out as the cot prompt and completion, every solution correct', () => {
    const rows = arithmeticSft(200, { seed: 1 });
    assert.equal(rows.length, 200);
    for (const { prompt, completion } of rows) {
      assert.match(prompt, /^Question: .+\nAnswer:$/s);
      assertCorrect(completion, parse(completion).answer);
    }
    const first = arithmeticProblems(20, { seed: 1 }).find((p) => questionSplit(p.question) === 'train')!;
    assert.deepEqual(rows[0], {
      prompt: `Question: ${first.question}\nAnswer:`,
      completion: ` ${first.rationale}. So the answer is ${first.answer}.`,
    });
  });

  it('keeps the splits disjoint by question, whatever the seed and count', () => {
    for (const seed of [0, 1, 2, 3]) {
      const questions = SPLITS.map((split) => {
        const prompts = arithmeticSft(split === 'train' ? 300 : 60, { seed, split }).map((r) => r.prompt);
        assert.ok(prompts.every((p) => questionSplit(p.slice('Question: '.length, -'\nAnswer:'.length)) === split));
        return new Set(prompts);
      });
      for (const [a, b] of [
        [0, 1],
        [0, 2],
        [1, 2],
      ]) {
        assert.ok(![...questions[a]].some((q) => questions[b].has(q)), `seed ${seed}: ${SPLITS[a]} and ${SPLITS[b]}`);
      }
    }
    // Across seeds too: no test question ever appears in another seed's train split.
    const test = new Set(arithmeticSft(100, { seed: 5, split: 'test' }).map((r) => r.prompt));
    assert.ok(!arithmeticSft(500, { seed: 6 }).some((r) => test.has(r.prompt)));
    // A tenth each for test and val, the rest train.
    const shares = SPLITS.map((s) => arithmeticProblems(3000).filter((p) => questionSplit(p.question) === s).length);
    assert.ok(
      shares[0] > 2100 && shares[1] > 200 && shares[1] < 400 && shares[2] > 200 && shares[2] < 400,
      `${shares}`,
    );
  });

  it('is deterministic, a longer list extends a shorter one, and bad options are DataErrors', () => {
    assert.deepEqual(arithmeticSft(30, { seed: 4, split: 'val' }), arithmeticSft(30, { seed: 4, split: 'val' }));
    assert.deepEqual(arithmeticSft(30, { seed: 4 }), arithmeticSft(60, { seed: 4 }).slice(0, 30));
    assert.notDeepEqual(arithmeticSft(30, { seed: 4 }), arithmeticSft(30, { seed: 5 }));
    assert.deepEqual(arithmeticSft(0), []);
    assert.throws(() => arithmeticSft(-1), DataError);
    assert.throws(() => arithmeticSft(1.5), DataError);
    assert.throws(() => arithmeticSft(3, { split: 'dev' as 'val' }), /unknown split 'dev'/);
  });

  it('gives the same problems as prompts and answers for answer accuracy', () => {
    const sft = arithmeticSft(20, { split: 'test' });
    assert.deepEqual(
      arithmeticAnswerProblems(20, { split: 'test' }),
      sft.map((r) => ({ prompt: r.prompt, answer: parse(r.completion).answer })),
    );
  });
});

describe('arithmeticPreferences', () => {
  const count = 600;
  const options = { seed: 2, ties: 0.3 };
  const rows = arithmeticPreferences(count, options);
  const sft = arithmeticSft(count, options);

  it('pairs the correct solution against one mistake of a listed kind, of every kind', () => {
    const kinds = new Map<string, number>();
    rows.forEach((row, i) => {
      assert.equal(row.prompt, sft[i].prompt);
      if (row.tie) return;
      assert.equal(row.chosen, sft[i].completion);
      assertCorrect(row.chosen, parse(sft[i].completion).answer);
      assert.notEqual(extractAnswer(row.rejected), extractAnswer(row.chosen), row.rejected);
      const kind = mistakeKind(row.chosen, row.rejected);
      assert.ok(KINDS.includes(kind as (typeof KINDS)[number]), `${kind}: ${row.chosen} | ${row.rejected}`);
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    });
    // Each kind is common (drawn uniformly where a problem allows it).
    for (const kind of KINDS) assert.ok((kinds.get(kind) ?? 0) > 40, `${kind}: ${[...kinds]}`);
  });

  it('makes ties of two different correct solutions, or two different mistakes of one kind', () => {
    let correctTies = 0;
    rows.forEach((row, i) => {
      if (!row.tie) return;
      assert.notEqual(row.chosen, row.rejected);
      const answer = parse(sft[i].completion).answer;
      if (extractAnswer(row.chosen) === answer) {
        correctTies++;
        assertCorrect(row.chosen, answer);
        assertCorrect(row.rejected, answer);
      } else {
        const [a, b] = [mistakeKind(sft[i].completion, row.chosen), mistakeKind(sft[i].completion, row.rejected)];
        assert.ok(KINDS.includes(a as (typeof KINDS)[number]), `${a}: ${row.chosen}`);
        assert.equal(a, b, `${row.chosen} | ${row.rejected}`);
      }
    });
    const tieCount = rows.filter((r) => r.tie).length;
    assert.ok(correctTies > 0.55 * tieCount && correctTies < 0.85 * tieCount, `${correctTies} of ${tieCount}`);
  });

  it('has exactly round(ties × count) ties, at positions the seed shuffles', () => {
    for (const [n, ties] of [
      [600, 0.3],
      [10, 0.25],
      [7, 0.5],
      [20, 0],
      [20, 1],
    ]) {
      assert.equal(
        arithmeticPreferences(n, { ties }).filter((r) => r.tie).length,
        Math.round(ties * n),
        `${n} × ${ties}`,
      );
    }
    const positions = (seed: number) =>
      arithmeticPreferences(40, { seed, ties: 0.5 })
        .map((r) => (r.tie ? 1 : 0))
        .join('');
    assert.notEqual(positions(0), positions(1));
    assert.ok(rows.slice(0, 100).some((r) => r.tie) && rows.slice(-100).some((r) => r.tie));
  });

  it('is deterministic, its problems do not depend on ties, and its splits are disjoint', () => {
    assert.deepEqual(arithmeticPreferences(count, options), rows);
    assert.notDeepEqual(arithmeticPreferences(50, { seed: 3, ties: 0.3 }), arithmeticPreferences(50, options));
    const prompts = (ties: number) => arithmeticPreferences(50, { seed: 2, ties }).map((r) => r.prompt);
    assert.deepEqual(prompts(0), prompts(0.7));
    const test = new Set(arithmeticPreferences(80, { split: 'test' }).map((r) => r.prompt));
    assert.ok(!arithmeticPreferences(400).some((r) => test.has(r.prompt)));
    assert.ok(!arithmeticPreferences(80, { split: 'val' }).some((r) => test.has(r.prompt)));
  });

  it('refuses a tie share outside [0, 1]', () => {
    for (const ties of [-0.1, 1.5, Number.NaN]) assert.throws(() => arithmeticPreferences(5, { ties }), DataError);
  });
});

describe('MISTAKES', () => {
  const problems = arithmeticProblems(300, { seed: 9 });

  it('lists one entry per kind, each making only wrong final answers', () => {
    assert.deepEqual(KINDS, ['wrong-operation', 'carried-error', 'wrong-answer']);
    const completion = (rationale: string, answer: string) => ` ${rationale}. So the answer is ${answer}.`;
    for (const problem of problems) {
      const correct = completion(problem.rationale!, problem.answer);
      for (const mistake of MISTAKES) {
        const variants = mistake.variants({ rationale: problem.rationale!, answer: problem.answer });
        assert.equal(new Set(variants.map((v) => completion(v.rationale, v.answer))).size, variants.length);
        for (const v of variants) assert.equal(mistakeKind(correct, completion(v.rationale, v.answer)), mistake.name);
      }
    }
  });

  it('carries an intermediate slip through every later step (an example)', () => {
    const solution = {
      rationale:
        'The pens cost 3 × 4 = 12 dollars and the cups cost 2 × 5 = 10 dollars. Together that is 12 + 10 = 22 dollars. ' +
        'She pays 50 dollars, so the change is 50 − 22 = 28 dollars',
      answer: '28',
    };
    const carried = MISTAKES.find((m) => m.name === 'carried-error')!.variants(solution);
    const eleven = carried.find((v) => v.rationale.includes('3 × 4 = 13'));
    assert.deepEqual(eleven, {
      rationale:
        'The pens cost 3 × 4 = 13 dollars and the cups cost 2 × 5 = 10 dollars. Together that is 13 + 10 = 23 dollars. ' +
        'She pays 50 dollars, so the change is 50 − 23 = 27 dollars',
      answer: '27',
    });
    // The last step is not intermediate: nothing would carry its slip.
    assert.ok(carried.every((v) => v.rationale.includes('50 − ')));
    assert.ok(!carried.some((v) => /50 − 22 = (?!28)/.test(v.rationale)));
    const wrongOp = MISTAKES[0].variants(solution);
    assert.ok(
      wrongOp.some(
        (v) => v.rationale.includes('3 + 4 = 7') && v.rationale.includes('7 + 10 = 17') && v.answer === '33',
      ),
    );
  });

  it('rewords a solution correctly in several ways, always at least two', () => {
    const solution = {
      rationale: 'He buys 3 × 12 = 36 pens. And 2 × 5 = 10 cups. In all 36 + 10 = 46 things',
      answer: '46',
    };
    const rewordings = correctRewordings(solution).map((s) => s.rationale);
    assert.equal(rewordings[0], solution.rationale);
    for (const expected of [
      'He buys 12 × 3 = 36 pens. And 2 × 5 = 10 cups. In all 36 + 10 = 46 things',
      'He buys 12 × 3 = 36 pens. And 5 × 2 = 10 cups. In all 10 + 36 = 46 things',
      '3 × 12 = 36. 2 × 5 = 10. 36 + 10 = 46',
      '12 × 3 = 36. 5 × 2 = 10. 10 + 36 = 46',
    ]) {
      assert.ok(rewordings.includes(expected), expected);
    }
    for (const problem of problems) {
      const variants = correctRewordings({ rationale: problem.rationale!, answer: problem.answer });
      assert.ok(variants.length >= 2);
      assert.equal(new Set(variants.map((v) => v.rationale)).size, variants.length);
      for (const v of variants) assertCorrect(` ${v.rationale}. So the answer is ${v.answer}.`, problem.answer);
    }
  });
});

describe('extractAnswer and isCorrectAnswer', () => {
  it('take the number after the last "the answer is", digits only', () => {
    const cases: [string, string | null][] = [
      [' 3 × 12 = 36. So the answer is 36.', '36'],
      ['So the answer is 4. Wait: so the answer is 5.', '5'],
      ['the answer is $1,250 dollars', '1250'],
      ['THE ANSWER IS 007.', '7'],
      ['So the answer is 46, not 47', '46'],
      ['So the answer is 12.5.', '12'],
      ['3 × 12 = 36', null],
      ['So the answer is unknown.', null],
      ['', null],
    ];
    for (const [text, expected] of cases) assert.equal(extractAnswer(text), expected, text);
    assert.ok(isCorrectAnswer(' so the answer is 46.', '46'));
    assert.ok(isCorrectAnswer('So the answer is 1,000.', '1000'));
    assert.ok(!isCorrectAnswer('So the answer is 45.', '46'));
    assert.ok(!isCorrectAnswer('46', '46'));
  });

  it('see a complete final answer only once its period is written', () => {
    assert.ok(!hasFinalAnswer(' 3 × 12 = 36. So the answer is 3'));
    assert.ok(!hasFinalAnswer(' 3 × 12 = 36. So the answer is'));
    assert.ok(hasFinalAnswer(' 3 × 12 = 36. So the answer is 36.'));
    assert.ok(hasFinalAnswer(' So the answer is 36. Question: next'));
  });
});

describe('readPreferenceRows and readSftRows', () => {
  it('read the rows lithe writes, and TRL-shaped rows with tie optional and extra keys ignored', () => {
    const rows = arithmeticPreferences(20, { ties: 0.5 });
    assert.deepEqual(readPreferenceRows(writeTemp('pairs.jsonl', formatJsonl(rows))), rows);
    const sft = arithmeticSft(5);
    assert.deepEqual(readSftRows(writeTemp('sft.jsonl', formatJsonl(sft))), sft);
    const file = writeTemp(
      'trl.jsonl',
      '{"prompt": "p", "chosen": "c", "rejected": "r", "score_chosen": 8.5}\r\n\n  \n{"prompt": "q", "chosen": "a", "rejected": "b", "tie": true}\n',
    );
    assert.deepEqual(readPreferenceRows(file), [
      { prompt: 'p', chosen: 'c', rejected: 'r', tie: false },
      { prompt: 'q', chosen: 'a', rejected: 'b', tie: true },
    ] satisfies PreferenceRow[]);
    assert.deepEqual(readSftRows(writeTemp('sft2.jsonl', '{"prompt": "p", "completion": " c", "id": 3}\n')), [
      { prompt: 'p', completion: ' c' },
    ]);
  });

  it('name the file and line of a bad row, and refuse a file without rows', () => {
    const cases: [(file: string) => unknown, string, RegExp][] = [
      [readPreferenceRows, '{"prompt": "p", "chosen": "c", "rejected": "r"}\n\n{oops\n', /:3: invalid JSON/],
      [readPreferenceRows, '{"prompt": "p", "chosen": "c"}\n', /:1: expected a string "rejected"/],
      [
        readPreferenceRows,
        '{"prompt": "p", "chosen": [{"role": "user"}], "rejected": "r"}\n',
        /:1: expected a string "chosen"/,
      ],
      [
        readPreferenceRows,
        '{"prompt": "p", "chosen": "c", "rejected": "r", "tie": 1}\n',
        /:1: "tie" must be true or false/,
      ],
      [readPreferenceRows, '"text"\n', /:1: expected an object/],
      [readSftRows, '{"prompt": "p", "completion": "c"}\n{"prompt": "p"}\n', /:2: expected a string "completion"/],
      [readSftRows, 'null\n', /:1: expected an object/],
    ];
    cases.forEach(([read, text, pattern], i) => {
      const file = writeTemp(`bad${i}.jsonl`, text);
      assert.throws(
        () => read(file),
        (err: Error) => err instanceof DataError && err.message.startsWith(file) && pattern.test(err.message),
      );
    });
    assert.throws(() => readPreferenceRows(writeTemp('empty.jsonl', '')), /empty.jsonl: no preference rows/);
    assert.throws(() => readSftRows(writeTemp('blank.jsonl', '\n \n')), /blank.jsonl: no SFT rows/);
    assert.throws(() => readSftRows(join(dir, 'missing.jsonl')), /missing.jsonl: no such file/);
  });
});
