import { Rng } from '../engine/rng.js';
import { jsonErrorMessage } from '../io/errors.js';
import type { LitheTokenizer } from '../io/tokenizer.js';
import { arithmeticProblems } from './arithmetic.js';
import { DataError } from './corpora.js';
import { readSource } from './text-source.js';

/** One solved task example: a question, its final answer, and optionally a worked rationale (for CoT). */
export interface TaskExample {
  question: string;
  answer: string;
  rationale?: string;
}

/**
 * How task examples become calibration text (arXiv 2410.07461):
 * - `plain`: each example as `Question: {q}\nAnswer: {answer}`;
 * - `cot`:   each example as `Question: {q}\nAnswer: {rationale}. So the answer is {answer}.`;
 * - `icl`:   iclK solved examples before a target example, each in the plain layout (or the cot one with `cot: true`),
 *   separated by a blank line.
 */
export const TASK_FORMATS = ['plain', 'icl', 'cot'] as const;
export type TaskFormat = (typeof TASK_FORMATS)[number];

export interface TaskLayoutOptions {
  /** Default 'plain'. */
  format?: TaskFormat;
  /** With format 'icl': lay each example out as CoT (ignored by the other formats). Default false. */
  cot?: boolean;
  /** With format 'icl': solved examples before the target; default 3. */
  iclK?: number;
  /**
   * A per-example layout replacing the plain and cot ones (format 'icl' still groups iclK + 1 examples): text with
   * `{question}`, `{answer}` and `{rationale}` placeholders; see parseTaskTemplate.
   */
  template?: string;
}

export interface TaskCalibrationOptions extends TaskLayoutOptions {
  /** Number of samples; default 128 (the papers). */
  nsamples?: number;
  /** Tokens per sample. */
  seqlen: number;
  /** Seed of the example and window choices; default 0. */
  seed?: number;
}

export interface CalibrationExamplesOptions {
  /** For 'arithmetic': how many problems to generate; default 1000. */
  count?: number;
  /** For 'arithmetic': the generator's seed (a fixed data set, sampled by taskCalibration's own seed); default 0. */
  seed?: number;
}

const PLACEHOLDERS = ['question', 'answer', 'rationale'] as const;
const PLAIN_TEMPLATE = 'Question: {question}\nAnswer: {answer}';
const COT_TEMPLATE = 'Question: {question}\nAnswer: {rationale}. So the answer is {answer}.';
// A prompt/completion split of a layout ends the prompt with this cue; the completion is the model's answer.
const ANSWER_CUE = 'Answer:';
type Placeholder = (typeof PLACEHOLDERS)[number];

// Laid-out examples are joined with a blank line, within an ICL prompt and between concatenated units.
const SEPARATOR = '\n\n';

/**
 * Task examples from a source: `arithmetic` (lithe's generated word problems, see arithmeticProblems) or a `.jsonl`
 * file of `{question, answer, rationale?}` rows (see readTaskExamples).
 */
export function calibrationExamples(source: string, options: CalibrationExamplesOptions = {}): TaskExample[] {
  const { count = 1000, seed = 0 } = options;
  if (source === 'arithmetic') return arithmeticProblems(count, { seed });
  if (source.toLowerCase().endsWith('.jsonl')) return readTaskExamples(source);
  throw new DataError(`task source '${source}' is neither 'arithmetic' nor a .jsonl file`);
}

/**
 * Task examples from a JSONL file: one `{"question": string, "answer": string | number, "rationale"?: string}` object
 * per line (a numeric answer is written in decimal); blank lines are skipped. A bad line is an error naming the file
 * and the 1-based line number; a file without rows is an error too.
 */
export function readTaskExamples(file: string): TaskExample[] {
  return readJsonlRows(file, taskExampleFromRow, 'task examples');
}

/**
 * The rows of a JSONL file, each parsed and then checked by fromRow (which throws a DataError starting with `where`,
 * the file and 1-based line); blank lines are skipped. Invalid JSON and a file without rows (`no {what}`) are errors.
 */
export function readJsonlRows<T>(file: string, fromRow: (row: unknown, where: string) => T, what: string): T[] {
  const rows: T[] = [];
  readTextFile(file)
    .split('\n')
    .forEach((line, index) => {
      if (line.trim() === '') return;
      const where = `${file}:${index + 1}`;
      let row: unknown;
      try {
        row = JSON.parse(line);
      } catch (err) {
        throw new DataError(`${where}: invalid JSON (${jsonErrorMessage(err)})`);
      }
      rows.push(fromRow(row, where));
    });
  if (rows.length === 0) throw new DataError(`${file}: no ${what}`);
  return rows;
}

/** A parsed JSONL row as an object, or a DataError at `where` (the file and line). */
export function jsonlObject(row: unknown, where: string): Record<string, unknown> {
  if (typeof row !== 'object' || row === null || Array.isArray(row))
    throw new DataError(`${where}: expected an object`);
  return row as Record<string, unknown>;
}

function taskExampleFromRow(row: unknown, where: string): TaskExample {
  const { question, answer, rationale } = jsonlObject(row, where);
  if (typeof question !== 'string') throw new DataError(`${where}: expected a string "question"`);
  if (typeof answer !== 'string' && !(typeof answer === 'number' && Number.isFinite(answer))) {
    throw new DataError(`${where}: expected a string or number "answer"`);
  }
  if (rationale !== undefined && typeof rationale !== 'string') {
    throw new DataError(`${where}: "rationale" must be a string when present`);
  }
  return { question, answer: String(answer), ...(rationale === undefined ? {} : { rationale }) };
}

/** A text file with Windows line endings normalised. */
function readTextFile(file: string): string {
  return readSource(file).replace(/\r\n?/g, '\n');
}

/**
 * A template file's text, checked: its final newlines are dropped (examples are already separated by a blank line),
 * and every `{name}` in it must be one of `{question}`, `{answer}`, `{rationale}`.
 */
export function readTaskTemplate(file: string): string {
  const template = readTextFile(file).replace(/\n+$/, '');
  checkTemplate(template, file);
  return template;
}

/** Throws a DataError naming the unknown `{name}` placeholders of a template; `source` names it in the message. */
function checkTemplate(template: string, source: string): void {
  const unknown = [...template.matchAll(/\{(\w+)\}/g)]
    .map((m) => m[1])
    .filter((name) => !(PLACEHOLDERS as readonly string[]).includes(name));
  if (unknown.length > 0) {
    throw new DataError(
      `${source}: unknown placeholder${unknown.length > 1 ? 's' : ''} ${[...new Set(unknown)].map((n) => `{${n}}`).join(', ')} ` +
        `(valid: ${PLACEHOLDERS.map((n) => `{${n}}`).join(', ')})`,
    );
  }
}

/** The per-example layout of a format and options, as a template. */
function exampleTemplate(options: TaskLayoutOptions): string {
  const { format = 'plain', cot = false, template } = options;
  if (!(TASK_FORMATS as readonly string[]).includes(format)) {
    throw new DataError(`unknown task format '${format}' (valid: ${TASK_FORMATS.join(', ')})`);
  }
  if (template !== undefined) {
    checkTemplate(template, 'task template');
    return template;
  }
  return format === 'cot' || (format === 'icl' && cot) ? COT_TEMPLATE : PLAIN_TEMPLATE;
}

/**
 * One example in the cot layout, split after its "Answer:" into the prompt `Question: {question}\nAnswer:` and the
 * completion ` {rationale}. So the answer is {answer}.` (the rows of supervised fine-tuning and preference pairs).
 * `position` names the example in the error for a missing rationale.
 */
export function cotPromptCompletion(example: TaskExample, position = 1): { prompt: string; completion: string } {
  const cut = COT_TEMPLATE.indexOf(ANSWER_CUE) + ANSWER_CUE.length;
  return {
    prompt: fillTemplate(COT_TEMPLATE.slice(0, cut), example, position),
    completion: fillTemplate(COT_TEMPLATE.slice(cut), example, position),
  };
}

/**
 * One example in a layout template. A rationale's final period is dropped so that the CoT layout does not double it.
 * A layout with `{rationale}` and an example without one is an error (no silent fall-back to the plain layout), naming
 * the example's 1-based position in the list.
 */
function fillTemplate(template: string, example: TaskExample, position: number): string {
  return template.replace(/\{(\w+)\}/g, (_match, name: Placeholder) => {
    if (name !== 'rationale') return example[name];
    if (example.rationale === undefined) {
      throw new DataError(`task example ${position} has no rationale, which its layout needs`);
    }
    return example.rationale.replace(/\.\s*$/, '');
  });
}

/**
 * Examples as calibration text: each in the per-example layout of the options (plain, cot, or the template),
 * separated by a blank line. One example gives a 'plain' or 'cot' unit; iclK solved examples followed by the target
 * give an 'icl' prompt.
 */
export function layoutTaskExamples(examples: readonly TaskExample[], options: TaskLayoutOptions = {}): string {
  const template = exampleTemplate(options);
  return examples.map((example, i) => fillTemplate(template, example, i + 1)).join(SEPARATOR);
}

/**
 * Calibration samples from task examples, by the "concat" recipe of arXiv 2410.07461: for each sample, draw units
 * (one example for 'plain' and 'cot'; iclK + 1 distinct examples for 'icl'), lay each out, tokenize each on its own
 * (without special tokens), and concatenate them, separated by a blank line, until longer than seqlen; the sample is
 * a random window of seqlen tokens that never ends on the last token (as corpusCalibration). Every example is laid out
 * once up front, so a missing rationale fails whatever the seed. Returns nsamples arrays of seqlen token ids.
 */
export function taskCalibration(
  tokenizer: LitheTokenizer,
  examples: readonly TaskExample[],
  options: TaskCalibrationOptions,
): Int32Array[] {
  const { format = 'plain', iclK = 3, nsamples = 128, seqlen, seed = 0 } = options;
  checkCount(nsamples, 'nsamples', 1);
  checkCount(seqlen, 'seqlen', 1);
  checkCount(iclK, 'iclK', 0);
  if (examples.length === 0) throw new DataError('taskCalibration: no task examples');
  const template = exampleTemplate(options);
  const laidOut = examples.map((example, i) => fillTemplate(template, example, i + 1));
  const perUnit = format === 'icl' ? iclK + 1 : 1;
  if (perUnit > examples.length) {
    throw new DataError(
      `taskCalibration: icl with iclK = ${iclK} needs at least ${perUnit} examples, got ${examples.length}`,
    );
  }
  const separator = tokenizer.encode(SEPARATOR);
  // Plain and cot units are single examples, so each is tokenized at most once.
  const encodedSingles = new Map<number, Int32Array>();
  const rng = new Rng(seed);
  const drawUnit = (): Int32Array => {
    if (perUnit === 1) {
      const index = rng.int(examples.length);
      let ids = encodedSingles.get(index);
      if (ids === undefined) encodedSingles.set(index, (ids = tokenizer.encode(laidOut[index])));
      return ids;
    }
    return tokenizer.encode(
      distinctIndices(rng, examples.length, perUnit)
        .map((i) => laidOut[i])
        .join(SEPARATOR),
    );
  };
  return Array.from({ length: nsamples }, () => {
    const parts = [drawUnit()];
    let length = parts[0].length;
    while (length <= seqlen) {
      const unit = drawUnit();
      parts.push(separator, unit);
      length += separator.length + unit.length;
    }
    const ids = concatIds(parts, length);
    const start = rng.int(ids.length - seqlen);
    return ids.slice(start, start + seqlen);
  });
}

function checkCount(value: number, name: string, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    throw new DataError(`taskCalibration: ${name} must be an integer >= ${min}, got ${value}`);
  }
}

/** k distinct indices in [0, n), in drawn order (a partial Fisher-Yates shuffle). */
function distinctIndices(rng: Rng, n: number, k: number): number[] {
  const pool = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < k; i++) {
    const j = i + rng.int(n - i);
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, k);
}

function concatIds(parts: readonly Int32Array[], length: number): Int32Array {
  const ids = new Int32Array(length);
  let offset = 0;
  for (const part of parts) {
    ids.set(part, offset);
    offset += part.length;
  }
  return ids;
}
