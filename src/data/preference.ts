import { Rng } from '../engine/rng.js';
import { arithmeticProblemStream } from './arithmetic.js';
import { DataError } from './corpora.js';
import { cotPromptCompletion, jsonlObject, readJsonlRows, type TaskExample } from './tasks.js';

/** A supervised fine-tuning row: the loss falls on the completion only. */
export interface SftRow {
  prompt: string;
  completion: string;
}

/** A preference pair in TRL's shape (prompt + chosen, prompt + rejected), with a tie when both are equally good. */
export interface PreferenceRow {
  prompt: string;
  chosen: string;
  rejected: string;
  tie: boolean;
}

/** Held-out splits of the arithmetic problems, disjoint by question (see questionSplit). */
export const SPLITS = ['train', 'val', 'test'] as const;
export type Split = (typeof SPLITS)[number];

export interface ArithmeticSftOptions {
  /** The problem generator's seed (arithmeticProblems); default 0. */
  seed?: number;
  /** Default 'train'. */
  split?: Split;
}

export interface ArithmeticPreferenceOptions extends ArithmeticSftOptions {
  /** Share of tie pairs in [0, 1]: exactly round(ties × count) rows are ties, at seeded positions. Default 0. */
  ties?: number;
}

const utf8 = new TextEncoder();

/**
 * The split a question belongs to, from its text alone: FNV-1a (32-bit, over its UTF-8 bytes) mod 10, 0 for test, 1
 * for val and the rest for train. So a question is in one split whatever the seed or count that generated it.
 */
export function questionSplit(question: string): Split {
  let hash = 0x811c9dc5;
  for (const byte of utf8.encode(question)) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  const bucket = hash % 10;
  return bucket === 0 ? 'test' : bucket === 1 ? 'val' : 'train';
}

/**
 * The first `count` problems of arithmeticProblems for the seed that fall in the split. A split holds about a tenth
 * of the problems or more, so a generator that has not filled it after 100 × count + 1000 draws is an error.
 */
function splitProblems(caller: string, count: number, options: ArithmeticSftOptions): TaskExample[] {
  const { seed = 0, split = 'train' } = options;
  if (!Number.isInteger(count) || count < 0) {
    throw new DataError(`${caller}: count must be a non-negative integer, got ${count}`);
  }
  if (!(SPLITS as readonly string[]).includes(split)) {
    throw new DataError(`${caller}: unknown split '${split}' (valid: ${SPLITS.join(', ')})`);
  }
  const stream = arithmeticProblemStream({ seed });
  const problems: TaskExample[] = [];
  const maxDraws = 100 * count + 1000;
  for (let draws = 0; problems.length < count; draws++) {
    if (draws === maxDraws) {
      throw new DataError(`${caller}: only ${problems.length} of ${count} problems fell in the ${split} split`);
    }
    const problem = stream.next().value;
    if (questionSplit(problem.question) === split) problems.push(problem);
  }
  return problems;
}

/** Worked arithmetic problems of one split as SFT rows, in the cot layout (see cotPromptCompletion). */
export function arithmeticSft(count: number, options: ArithmeticSftOptions = {}): SftRow[] {
  return splitProblems('arithmeticSft', count, options).map((problem) => cotPromptCompletion(problem));
}

/** A problem to answer: the prompt a model continues, and the true final answer. */
export interface AnswerProblem {
  prompt: string;
  answer: string;
}

/** Problems of one split as prompts and true answers, for answer accuracy: the prompts of arithmeticSft's rows. */
export function arithmeticAnswerProblems(count: number, options: ArithmeticSftOptions = {}): AnswerProblem[] {
  return splitProblems('arithmeticAnswerProblems', count, options).map((problem) => ({
    prompt: cotPromptCompletion(problem).prompt,
    answer: problem.answer,
  }));
}

// The share of tie pairs that are two correct solutions; the rest are two equally bad ones.
const CORRECT_TIE_SHARE = 0.7;
// Pair choices draw from their own generator, so the problems of a seed are the same whatever the ties.
const PAIR_SEED_SALT = 0x70726566;

/**
 * Preference pairs on worked arithmetic problems of one split, prompts and completions as arithmeticSft's.
 * - A non-tie pair is the correct solution (chosen) against one with a mistake of one of the MISTAKES kinds (rejected),
 *   the kind drawn at random among those the problem allows; its final answer is always wrong.
 * - A tie is, 7 times in 10, two different correct solutions (see correctRewordings), else two different mistakes of
 *   the same kind, in a random order.
 * Deterministic for a seed.
 */
export function arithmeticPreferences(count: number, options: ArithmeticPreferenceOptions = {}): PreferenceRow[] {
  const { seed = 0, ties = 0 } = options;
  if (!(ties >= 0 && ties <= 1)) throw new DataError(`arithmeticPreferences: ties must be in [0, 1], got ${ties}`);
  const problems = splitProblems('arithmeticPreferences', count, options);
  const rng = new Rng((seed ^ PAIR_SEED_SALT) >>> 0);
  const tieCount = Math.round(ties * count);
  const isTie = shuffled(
    rng,
    problems.map((_, i) => i < tieCount),
  );
  return problems.map((problem, i) => preferencePair(problem, isTie[i], rng));
}

function preferencePair(problem: TaskExample, tie: boolean, rng: Rng): PreferenceRow {
  const { prompt, completion } = cotPromptCompletion(problem);
  const solution = { rationale: problem.rationale ?? '', answer: problem.answer };
  const complete = (s: Solution) => cotPromptCompletion({ ...problem, ...s }).completion;
  if (!tie) return { prompt, chosen: completion, rejected: complete(drawMistakes(solution, 1, rng)[0]), tie };
  const [first, second] =
    rng.uniform() < CORRECT_TIE_SHARE
      ? shuffled(rng, correctRewordings(solution)).slice(0, 2)
      : drawMistakes(solution, 2, rng);
  return { prompt, chosen: complete(first), rejected: complete(second), tie };
}

/** A worked solution: the rationale's statements, and the number after "So the answer is". */
export interface Solution {
  rationale: string;
  answer: string;
}

/** A kind of realistic mistake, and every distinct wrong solution it makes of a correct one. */
export interface MistakeKind {
  name: 'wrong-operation' | 'carried-error' | 'wrong-answer';
  description: string;
  /** Each different solution with this mistake and a wrong final answer, every step a whole number >= 0 (maybe none). */
  variants(solution: Solution): Solution[];
}

/** The mistakes a rejected solution makes, one kind per pair. */
export const MISTAKES: readonly MistakeKind[] = [
  {
    name: 'wrong-operation',
    description: 'one step uses another operation (+ for −, × for +, …); its result is carried through',
    variants: (solution) => rewrites(solution, (step) => wrongOperations(step)),
  },
  {
    name: 'carried-error',
    description: 'one intermediate result is off (±1, ±10, two digits swapped); every later step uses it',
    variants: (solution) =>
      rewrites(solution, (step, i, steps) =>
        i === steps.length - 1 ? [] : slips(step.result).map((result) => ({ ...step, result })),
      ),
  },
  {
    name: 'wrong-answer',
    description: 'every step is right but the final answer is another number (a slip, or an earlier result)',
    variants: (solution) => {
      const steps = parseSteps(solution.rationale);
      const earlier = steps.length > 1 ? [steps[steps.length - 2].result] : [];
      return distinctWrong(
        solution,
        [...slips(Number(solution.answer)), ...earlier].map((n) => ({ ...solution, answer: String(n) })),
      );
    },
  },
];

/** `n` different solutions with mistakes of one kind: the kinds in a random order, the first that makes n of them. */
function drawMistakes(solution: Solution, n: number, rng: Rng): Solution[] {
  for (const kind of shuffled(rng, MISTAKES)) {
    const variants = kind.variants(solution);
    if (variants.length >= n) return shuffled(rng, variants).slice(0, n);
  }
  // A wrong final answer always has two variants (+1 and +10), so a generated problem never gets here.
  throw new DataError(`no ${n} different mistakes for the solution '${solution.rationale}'`);
}

type Op = '+' | '−' | '×' | '÷';
const OPS: readonly Op[] = ['+', '−', '×', '÷'];

/** One `a op b … = c` statement of a rationale, with where it stands in the text. */
interface Step {
  start: number;
  end: number;
  operands: number[];
  ops: Op[];
  result: number;
}

// Whole numbers joined by + − × ÷, then `= result`: every step arithmeticProblems writes, percentages included.
const STEP = /(\d+(?: [+−×÷] \d+)+) = (\d+)/g;

function parseSteps(rationale: string): Step[] {
  return [...rationale.matchAll(STEP)].map((match) => {
    const words = match[1].split(' ');
    return {
      start: match.index,
      end: match.index + match[0].length,
      operands: words.filter((_, i) => i % 2 === 0).map(Number),
      ops: words.filter((_, i) => i % 2 === 1) as Op[],
      result: Number(match[2]),
    };
  });
}

function stepText(step: Step): string {
  return `${step.operands.map((n, i) => (i === 0 ? `${n}` : `${step.ops[i - 1]} ${n}`)).join(' ')} = ${step.result}`;
}

/** The value of `a op b op …`, × and ÷ before + and −, each left to right. */
function evaluate(operands: readonly number[], ops: readonly Op[]): number {
  const terms = [operands[0]];
  const signs: Op[] = [];
  ops.forEach((op, i) => {
    const value = operands[i + 1];
    if (op === '×') terms[terms.length - 1] *= value;
    else if (op === '÷') terms[terms.length - 1] /= value;
    else {
      signs.push(op);
      terms.push(value);
    }
  });
  return terms.slice(1).reduce((sum, term, i) => (signs[i] === '+' ? sum + term : sum - term), terms[0]);
}

const isCount = (value: number) => Number.isInteger(value) && value >= 0;

/** The rationale with each step written as given (same steps, same places). */
function withSteps(rationale: string, steps: readonly Step[]): string {
  let text = rationale;
  for (let i = steps.length - 1; i >= 0; i--) {
    text = text.slice(0, steps[i].start) + stepText(steps[i]) + text.slice(steps[i].end);
  }
  return text;
}

/** A one-operator step done with each other operation, where that gives a whole number >= 0. */
function wrongOperations(step: Step): Step[] {
  if (step.ops.length !== 1) return [];
  return OPS.filter((op) => op !== step.ops[0])
    .map((op) => ({ ...step, ops: [op], result: evaluate(step.operands, [op]) }))
    .filter((wrong) => isCount(wrong.result));
}

/** Wrong values a slip makes of a number: ±1, ±10, and two adjacent digits swapped (no leading zero), all > 0. */
function slips(value: number): number[] {
  const digits = String(value);
  const swaps = [...digits.slice(1)].map(
    (_, i) => digits.slice(0, i) + digits[i + 1] + digits[i] + digits.slice(i + 2),
  );
  const swapped = swaps.filter((text) => !text.startsWith('0')).map(Number);
  return [...new Set([value + 1, value - 1, value + 10, value - 10, ...swapped])].filter((v) => v > 0 && v !== value);
}

/**
 * The solutions made by replacing one step with each of its wrong versions and carrying the change through: the
 * final answer is the last step's result.
 */
function rewrites(solution: Solution, wrongVersions: (step: Step, i: number, steps: Step[]) => Step[]): Solution[] {
  const steps = parseSteps(solution.rationale);
  const candidates = steps.flatMap((step, i) =>
    wrongVersions(step, i, steps).map((wrong) => {
      const carried = carryThrough(steps, i, wrong);
      return carried && { rationale: withSteps(solution.rationale, carried), answer: String(carried.at(-1)!.result) };
    }),
  );
  return distinctWrong(solution, candidates);
}

/**
 * The steps with steps[index] replaced and each changed result carried into its first later use (an operand equal to
 * the old result; every step of a generated problem is used once), that step recomputed and its change carried on in
 * turn. Null when a recomputed step is negative or fractional.
 */
function carryThrough(steps: readonly Step[], index: number, replacement: Step): Step[] | null {
  const out = steps.slice();
  out[index] = replacement;
  const changed = new Map<number, number>();
  if (replacement.result !== steps[index].result) changed.set(steps[index].result, replacement.result);
  for (let j = index + 1; j < out.length && changed.size > 0; j++) {
    const operands = out[j].operands.slice();
    for (const [from, to] of changed) {
      const k = out[j].operands.findIndex((v, i) => v === from && operands[i] === v);
      if (k < 0) continue;
      operands[k] = to;
      changed.delete(from);
    }
    if (operands.every((v, i) => v === out[j].operands[i])) continue;
    const result = evaluate(operands, out[j].ops);
    if (!isCount(result)) return null;
    if (result !== out[j].result) changed.set(out[j].result, result);
    out[j] = { ...out[j], operands, result };
  }
  return out;
}

/** The candidates whose final answer differs from the solution's, each text once, in order. */
function distinctWrong(solution: Solution, candidates: readonly (Solution | null)[]): Solution[] {
  const seen = new Set<string>();
  return candidates.filter((c): c is Solution => {
    if (c === null || c.answer === solution.answer) return false;
    const key = `${c.rationale}\n${c.answer}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** The first two operands of a step can trade places: a sum, or a product that nothing binds tighter than. */
function canSwap(step: Step): boolean {
  const [first, ...rest] = step.ops;
  if (step.operands[0] === step.operands[1]) return false;
  return first === '×' || (first === '+' && rest.every((op) => op === '+' || op === '−'));
}

/**
 * Different correct solutions, the given one first: the operands of one sum or product swapped (`3 × 12 = 36` →
 * `12 × 3 = 36`), of all of them, and the bare equations (`3 × 12 = 36. 2 × 5 = 10. 36 + 10 = 46`), swapped or not.
 * Always at least two, as a rationale has words besides its equations.
 */
export function correctRewordings(solution: Solution): Solution[] {
  const steps = parseSteps(solution.rationale);
  const swapAt = (indices: readonly number[]) =>
    steps.map((step, i) =>
      indices.includes(i)
        ? { ...step, operands: [step.operands[1], step.operands[0], ...step.operands.slice(2)] }
        : step,
    );
  const swappable = steps.flatMap((step, i) => (canSwap(step) ? [i] : []));
  const allSwapped = swapAt(swappable);
  const bare = (s: readonly Step[]) => s.map(stepText).join('. ');
  const texts = [
    solution.rationale,
    ...swappable.map((i) => withSteps(solution.rationale, swapAt([i]))),
    withSteps(solution.rationale, allSwapped),
    bare(steps),
    bare(allSwapped),
  ];
  return [...new Set(texts)].map((rationale) => ({ rationale, answer: solution.answer }));
}

/** A copy of items in a random order (Fisher-Yates). */
function shuffled<T>(rng: Rng, items: readonly T[]): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

// A final answer: "the answer is" and a whole number (thousands may be comma-separated, a dollar sign may lead).
const FINAL_ANSWER = /the answer is\s+\$?(\d{1,3}(?:,\d{3})+|\d+)/gi;

/** A whole number's digits without thousands separators or leading zeros. */
function canonicalNumber(digits: string): string {
  return digits.replace(/,/g, '').replace(/^0+(?=\d)/, '');
}

/**
 * The number after the last "the answer is" (as "So the answer is 46."), digits only; null when there is none. The
 * last one counts, as a solution may restate its answer.
 */
export function extractAnswer(text: string): string | null {
  const last = [...text.matchAll(FINAL_ANSWER)].at(-1);
  return last === undefined ? null : canonicalNumber(last[1]);
}

/** True when the text's final answer (extractAnswer) is the number `answer`. */
export function isCorrectAnswer(text: string, answer: string): boolean {
  const found = extractAnswer(text);
  return found !== null && found === canonicalNumber(answer.trim());
}

/** True once the text holds a complete final answer, "the answer is N." with its period, where decoding can stop. */
export function hasFinalAnswer(text: string): boolean {
  return /the answer is\s+\$?(\d{1,3}(?:,\d{3})+|\d+)\./i.test(text);
}

/**
 * Preference pairs from a JSONL file: one `{"prompt": string, "chosen": string, "rejected": string, "tie"?: boolean}`
 * per line (TRL's and UltraFeedback's rows; `tie` defaults to false, other keys are ignored). Blank lines are skipped;
 * a bad line is a DataError naming the file and 1-based line, and so is a file without rows.
 */
export function readPreferenceRows(file: string): PreferenceRow[] {
  return readJsonlRows(
    file,
    (row, where) => {
      const fields = jsonlObject(row, where);
      const { tie = false } = fields;
      if (typeof tie !== 'boolean') throw new DataError(`${where}: "tie" must be true or false when present`);
      return {
        prompt: stringField(fields, 'prompt', where),
        chosen: stringField(fields, 'chosen', where),
        rejected: stringField(fields, 'rejected', where),
        tie,
      };
    },
    'preference rows',
  );
}

/** SFT rows from a JSONL file: one `{"prompt": string, "completion": string}` per line, as readPreferenceRows reads. */
export function readSftRows(file: string): SftRow[] {
  return readJsonlRows(
    file,
    (row, where) => {
      const fields = jsonlObject(row, where);
      return { prompt: stringField(fields, 'prompt', where), completion: stringField(fields, 'completion', where) };
    },
    'SFT rows',
  );
}

function stringField(fields: Record<string, unknown>, key: string, where: string): string {
  const value = fields[key];
  if (typeof value !== 'string') throw new DataError(`${where}: expected a string "${key}"`);
  return value;
}
