import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { arithmeticProblems } from '../../src/data/arithmetic.js';
import { DataError } from '../../src/data/corpora.js';
import { evaluate } from '../helpers/arithmetic.js';

// A statement: whole numbers joined by + − × ÷, then `= result`.
const STATEMENT = /(\d+(?: [+−×÷] \d+)+) = (\d+)/g;

describe('arithmeticProblems', () => {
  const problems = [0, 1, 2].flatMap((seed) => arithmeticProblems(400, { seed }));

  it('is deterministic for a seed', () => {
    assert.deepEqual(arithmeticProblems(50, { seed: 7 }), arithmeticProblems(50, { seed: 7 }));
    assert.deepEqual(arithmeticProblems(20), arithmeticProblems(20, { seed: 0 }));
    assert.notDeepEqual(arithmeticProblems(50, { seed: 7 }), arithmeticProblems(50, { seed: 8 }));
    assert.deepEqual(arithmeticProblems(0), []);
    assert.throws(() => arithmeticProblems(-1), DataError);
  });

  it('writes only correct whole-number arithmetic in its rationales', () => {
    for (const { rationale = '' } of problems) {
      const statements = [...rationale.matchAll(STATEMENT)];
      // Every `=` belongs to a parsed statement, so none escapes the check (a negative or a fraction would).
      assert.equal(statements.length, rationale.split('=').length - 1, rationale);
      assert.ok(statements.length >= 2, rationale);
      for (const [text, expression, result] of statements) assert.equal(evaluate(expression), Number(result), text);
    }
  });

  it('ends each rationale with the answer, as the result of its last step', () => {
    for (const { rationale = '', answer } of problems) {
      assert.match(answer, /^\d+$/);
      const statements = [...rationale.matchAll(STATEMENT)];
      assert.equal(statements.at(-1)![2], answer, rationale);
      assert.match(rationale, new RegExp(`= ${answer}(?: [a-z]+){0,2}$`), rationale);
    }
  });

  it('varies its templates, names and step counts', () => {
    const questions = problems.map((p) => p.question);
    for (const marker of [
      'change',
      'miles',
      'pages',
      'each friend',
      '% off',
      'walk',
      'years',
      'liters',
      'kilometers',
    ]) {
      assert.ok(
        questions.some((q) => q.includes(marker)),
        marker,
      );
    }
    assert.ok(new Set(questions).size > problems.length * 0.9);
    const stepCounts = new Set(problems.map((p) => [...(p.rationale ?? '').matchAll(STATEMENT)].length));
    assert.deepEqual([...stepCounts].sort(), [2, 3, 4]);
  });
});
