import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { arithmeticProblems } from '../../src/data/arithmetic.js';
import { DataError } from '../../src/data/corpora.js';
import {
  calibrationExamples,
  layoutTaskExamples,
  readTaskExamples,
  readTaskTemplate,
  type TaskExample,
  taskCalibration,
} from '../../src/data/tasks.js';
import { loadTokenizer } from '../../src/io/tokenizer.js';

const tokenizer = loadTokenizer(fileURLToPath(new URL('../../../test/golden/tokenizer/', import.meta.url)));
const dir = mkdtempSync(join(tmpdir(), 'lithe-tasks-'));

function writeTemp(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

const PENCILS: TaskExample = {
  question: 'Tom has 3 packs of 12 pencils. How many pencils does he have?',
  answer: '36',
  rationale: 'He has 3 × 12 = 36 pencils',
};
const APPLES: TaskExample = {
  question: 'Ann has 5 apples and eats 2. How many are left?',
  answer: '3',
  rationale: '5 − 2 = 3.',
};

/** Whether window occurs as a contiguous run of ids. */
function occursIn(ids: Int32Array, window: Int32Array): boolean {
  for (let s = 0; s + window.length <= ids.length; s++) {
    if (window.every((v, i) => ids[s + i] === v)) return true;
  }
  return false;
}

describe('layoutTaskExamples', () => {
  it('lays out plain and cot examples as the paper', () => {
    assert.equal(
      layoutTaskExamples([PENCILS]),
      'Question: Tom has 3 packs of 12 pencils. How many pencils does he have?\nAnswer: 36',
    );
    assert.equal(
      layoutTaskExamples([PENCILS], { format: 'cot' }),
      'Question: Tom has 3 packs of 12 pencils. How many pencils does he have?\n' +
        'Answer: He has 3 × 12 = 36 pencils. So the answer is 36.',
    );
    // A rationale's own final period is not doubled.
    assert.equal(
      layoutTaskExamples([APPLES], { format: 'cot' }),
      'Question: Ann has 5 apples and eats 2. How many are left?\nAnswer: 5 − 2 = 3. So the answer is 3.',
    );
  });

  it('separates ICL examples by a blank line, in the plain or cot layout', () => {
    assert.equal(
      layoutTaskExamples([APPLES, PENCILS], { format: 'icl' }),
      'Question: Ann has 5 apples and eats 2. How many are left?\nAnswer: 3\n\n' +
        'Question: Tom has 3 packs of 12 pencils. How many pencils does he have?\nAnswer: 36',
    );
    assert.equal(
      layoutTaskExamples([APPLES, PENCILS], { format: 'icl', cot: true }),
      'Question: Ann has 5 apples and eats 2. How many are left?\nAnswer: 5 − 2 = 3. So the answer is 3.\n\n' +
        'Question: Tom has 3 packs of 12 pencils. How many pencils does he have?\n' +
        'Answer: He has 3 × 12 = 36 pencils. So the answer is 36.',
    );
  });

  it('refuses a cot layout for an example without a rationale, naming it', () => {
    assert.throws(
      () => layoutTaskExamples([PENCILS, { question: 'Q?', answer: '1' }], { format: 'icl', cot: true }),
      (err: Error) => err instanceof DataError && /task example 2 has no rationale/.test(err.message),
    );
    assert.throws(() => layoutTaskExamples([PENCILS], { format: 'fancy' as 'plain' }), /unknown task format 'fancy'/);
  });

  it('follows a template, and names unknown placeholders', () => {
    const file = writeTemp('template.txt', 'Q: {question}\nWork: {rationale}\nA: {answer} {not a placeholder}\n\n');
    const template = readTaskTemplate(file);
    assert.equal(template, 'Q: {question}\nWork: {rationale}\nA: {answer} {not a placeholder}');
    assert.equal(
      layoutTaskExamples([APPLES, PENCILS], { format: 'icl', template: '{question} => {answer}' }),
      'Ann has 5 apples and eats 2. How many are left? => 3\n\n' +
        'Tom has 3 packs of 12 pencils. How many pencils does he have? => 36',
    );
    assert.equal(
      layoutTaskExamples([APPLES], { template }),
      'Q: Ann has 5 apples and eats 2. How many are left?\nWork: 5 − 2 = 3\nA: 3 {not a placeholder}',
    );
    const bad = writeTemp('bad.txt', '{question} {label} {answer} {label} {choices}');
    assert.throws(
      () => readTaskTemplate(bad),
      (err: Error) =>
        err instanceof DataError && err.message.startsWith(`${bad}: unknown placeholders {label}, {choices} (valid:`),
    );
    assert.throws(() => layoutTaskExamples([APPLES], { template: '{q}' }), /unknown placeholder \{q\}/);
  });
});

describe('readTaskExamples', () => {
  it('reads rows, skipping blank lines and writing numeric answers in decimal', () => {
    const file = writeTemp(
      'ok.jsonl',
      '{"question": "1 + 1?", "answer": 2}\n\n{"question": "Why?", "answer": "because", "rationale": "r"}\r\n',
    );
    assert.deepEqual(readTaskExamples(file), [
      { question: '1 + 1?', answer: '2' },
      { question: 'Why?', answer: 'because', rationale: 'r' },
    ]);
    assert.deepEqual(calibrationExamples(file), readTaskExamples(file));
  });

  it('names the file and line of a bad row', () => {
    const cases: [string, RegExp][] = [
      ['{"question": "a", "answer": "b"}\n\n{oops\n', /:3: invalid JSON/],
      ['{"question": "a"}\n', /:1: expected a string or number "answer"/],
      ['{"answer": "b"}\n', /:1: expected a string "question"/],
      ['[1]\n', /:1: expected an object/],
      ['{"question": "a", "answer": "b", "rationale": 3}\n', /:1: "rationale" must be a string/],
    ];
    cases.forEach(([text, pattern], i) => {
      const file = writeTemp(`bad${i}.jsonl`, text);
      assert.throws(
        () => readTaskExamples(file),
        (err: Error) => err instanceof DataError && err.message.startsWith(file) && pattern.test(err.message),
      );
    });
    assert.throws(() => readTaskExamples(writeTemp('empty.jsonl', '\n')), /no task examples/);
    assert.throws(() => readTaskExamples(join(dir, 'missing.jsonl')), /missing.jsonl: no such file/);
  });

  it('gives the arithmetic generator by name, and refuses other sources', () => {
    assert.deepEqual(calibrationExamples('arithmetic', { count: 5, seed: 2 }), arithmeticProblems(5, { seed: 2 }));
    assert.equal(calibrationExamples('arithmetic').length, 1000);
    assert.throws(() => calibrationExamples('gsm8k'), DataError);
  });
});

describe('taskCalibration', () => {
  const examples = arithmeticProblems(50);

  it('draws nsamples seeded windows of exactly seqlen tokens in every format', () => {
    for (const options of [
      { format: 'plain' },
      { format: 'cot' },
      { format: 'icl' },
      { format: 'icl', cot: true },
    ] as const) {
      for (const seqlen of [1, 40, 300]) {
        const samples = taskCalibration(tokenizer, examples, { ...options, nsamples: 6, seqlen, seed: 1 });
        assert.equal(samples.length, 6);
        for (const sample of samples) assert.equal(sample.length, seqlen);
        assert.deepEqual(taskCalibration(tokenizer, examples, { ...options, nsamples: 6, seqlen, seed: 1 }), samples);
      }
      const a = taskCalibration(tokenizer, examples, { ...options, nsamples: 6, seqlen: 40, seed: 1 });
      const b = taskCalibration(tokenizer, examples, { ...options, nsamples: 6, seqlen: 40, seed: 2 });
      assert.notDeepEqual(a, b);
    }
    assert.equal(taskCalibration(tokenizer, examples, { seqlen: 4 }).length, 128);
  });

  it('windows the laid-out examples, tokenized one by one and joined by a blank line', () => {
    // With one example the stream is that example repeated, whatever the draws.
    const ids = tokenizer.encode(layoutTaskExamples([PENCILS], { format: 'cot' }));
    const separator = tokenizer.encode('\n\n');
    const stream = Int32Array.from([...ids, ...separator, ...ids, ...separator, ...ids]);
    const samples = taskCalibration(tokenizer, [PENCILS], { format: 'cot', nsamples: 10, seqlen: ids.length + 5 });
    for (const sample of samples) assert.ok(occursIn(stream, sample));
    // ICL units hold iclK + 1 distinct examples, tokenized as one prompt.
    const prompts = [
      [APPLES, PENCILS],
      [PENCILS, APPLES],
    ].map((pair) => tokenizer.encode(layoutTaskExamples(pair, { format: 'icl' })));
    const icl = taskCalibration(tokenizer, [APPLES, PENCILS], { format: 'icl', iclK: 1, nsamples: 10, seqlen: 20 });
    // A 20-token window spans at most two units (each prompt is longer), in either order.
    const pairs = prompts.flatMap((first) =>
      prompts.map((second) => Int32Array.from([...first, ...separator, ...second])),
    );
    for (const sample of icl) assert.ok(pairs.some((pair) => occursIn(pair, sample)));
  });

  it('names the problem with empty, too few or unlaid examples', () => {
    assert.throws(
      () => taskCalibration(tokenizer, [], { seqlen: 8 }),
      (err: Error) => err instanceof DataError && /no task examples/.test(err.message),
    );
    assert.throws(
      () => taskCalibration(tokenizer, [APPLES, PENCILS], { format: 'icl', seqlen: 8 }),
      /icl with iclK = 3 needs at least 4 examples, got 2/,
    );
    // A missing rationale fails up front, whatever the seed draws.
    const withBare = [...examples, { question: 'Q?', answer: '1' }];
    assert.throws(
      () => taskCalibration(tokenizer, withBare, { format: 'cot', seqlen: 8 }),
      /task example 51 has no rationale/,
    );
    assert.throws(() => taskCalibration(tokenizer, examples, { seqlen: 0 }), /seqlen must be an integer >= 1/);
    assert.throws(() => taskCalibration(tokenizer, examples, { seqlen: 8, iclK: -1 }), /iclK must be an integer >= 0/);
  });
});
