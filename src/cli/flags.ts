import { parseArgs } from 'node:util';
import { UsageError } from '../engine/errors.js';

/** One flag: how it parses, what it means, and its default, so that parsing and --help come from one table. */
export type FlagSpec =
  | {
      kind: 'string';
      value: string;
      help: string;
      default?: string;
      defaultText?: string;
      multiple?: boolean;
      required?: boolean;
      /** Accept '' (e.g. an empty prompt); other string flags refuse it. */
      allowEmpty?: boolean;
    }
  | {
      kind: 'int';
      help: string;
      default?: number;
      defaultText?: string;
      min?: number;
      max?: number;
      required?: boolean;
    }
  | {
      kind: 'number';
      help: string;
      default?: number;
      defaultText?: string;
      min?: number;
      max?: number;
      /** The upper bound itself is not allowed. */
      maxExclusive?: boolean;
    }
  | {
      kind: 'choice';
      choices: readonly string[];
      help: string;
      default?: string;
      defaultText?: string;
      required?: boolean;
    }
  | { kind: 'boolean'; help: string };

export type FlagTable = Record<string, FlagSpec>;

/** A command's usage, flags and examples; `lithe <command> --help` prints it. */
export interface CommandSpec {
  /** As typed after `lithe`: 'prune', 'tokenizer train'. */
  name: string;
  summary: string;
  /** The usage line after `lithe <name>`, e.g. '--model DIR --out DIR --method M --sparsity S [flags]'. */
  usage: string;
  flags: FlagTable;
  examples: readonly string[];
  /** Extra paragraphs: sources accepted, output files, exit codes. */
  notes?: readonly string[];
}

type ValueOf<F extends FlagSpec> = F extends { kind: 'boolean' }
  ? boolean
  : F extends { kind: 'string'; multiple: true }
    ? string[]
    : F extends { kind: 'string' }
      ? F extends { default: string } | { required: true }
        ? string
        : string | undefined
      : F extends { kind: 'int' | 'number' }
        ? F extends { default: number } | { required: true }
          ? number
          : number | undefined
        : F extends { kind: 'choice'; choices: readonly (infer C)[] }
          ? F extends { default: string } | { required: true }
            ? C
            : C | undefined
          : never;

/** Parsed flag values, typed from the table; `given` tells which flags were on the command line. */
export type FlagValues<T extends FlagTable> = { [K in keyof T]: ValueOf<T[K]> } & { given: ReadonlySet<string> };

/** The exit codes every command shares. */
export const EXIT_CODES = '0 success; 1 runtime failure; 2 usage error (bad flag or value, unknown corpus or file)';

const HELP_FLAG: FlagSpec = { kind: 'boolean', help: 'show this help' };

/** Levenshtein distance, for "did you mean". */
function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

/** The closest of `candidates` to `word`, when it is close enough to be a likely typo. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

const NEGATIVE_NUMBER = /^-(\d|\.\d|Infinity|NaN)/;

/** Attach a value that starts with '-' (a negative number) to its flag, so that `--lr -1` reads as `--lr=-1`. */
function joinNegativeValues(argv: readonly string[], flags: FlagTable): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const spec = arg.startsWith('--') && !arg.includes('=') ? flags[arg.slice(2)] : undefined;
    const next = argv[i + 1];
    if (spec && spec.kind !== 'boolean' && next !== undefined && NEGATIVE_NUMBER.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

function rangeText(spec: { min?: number; max?: number; maxExclusive?: boolean }): string {
  const min = spec.min ?? Number.NEGATIVE_INFINITY;
  const max = spec.max ?? Number.POSITIVE_INFINITY;
  const low = min === Number.NEGATIVE_INFINITY ? '(-inf' : `[${min}`;
  const high = max === Number.POSITIVE_INFINITY ? 'inf)' : `${max}${spec.maxExclusive ? ')' : ']'}`;
  return `${low}, ${high}`;
}

/** Convert one flag's text to its typed value, or throw a UsageError naming the flag and what it accepts. */
function convert(command: string, name: string, spec: FlagSpec, raw: string): string | number {
  const flag = `${command}: --${name}`;
  switch (spec.kind) {
    case 'string':
      if (raw === '' && !spec.allowEmpty) throw new UsageError(`${flag} needs a non-empty ${spec.value}`);
      return raw;
    case 'choice':
      if (!spec.choices.includes(raw)) {
        const hint = closest(raw, spec.choices);
        throw new UsageError(
          `${flag} must be one of ${spec.choices.join(', ')}, got '${raw}'${hint ? ` (did you mean ${hint}?)` : ''}`,
        );
      }
      return raw;
    case 'int': {
      const n = Number(raw);
      const min = spec.min ?? 1;
      const max = spec.max ?? Number.MAX_SAFE_INTEGER;
      if (raw.trim() === '' || !Number.isSafeInteger(n) || n < min || n > max) {
        throw new UsageError(`${flag} must be an integer in ${rangeText({ min, max })}, got '${raw}'`);
      }
      return n;
    }
    case 'number': {
      const n = Number(raw);
      const min = spec.min ?? Number.NEGATIVE_INFINITY;
      const max = spec.max ?? Number.POSITIVE_INFINITY;
      const ok = raw.trim() !== '' && Number.isFinite(n) && n >= min && (spec.maxExclusive ? n < max : n <= max);
      if (!ok) throw new UsageError(`${flag} must be a number in ${rangeText(spec)}, got '${raw}'`);
      return n;
    }
    case 'boolean':
      throw new UsageError(`${flag} takes no value`);
  }
}

/**
 * Parse argv against a command's table: unknown flags name the closest valid one and list the rest, values are
 * converted and range-checked, defaults filled in, and required flags enforced, all before the command does any work.
 */
export function parseCommand<T extends FlagTable>(
  spec: CommandSpec & { flags: T },
  argv: readonly string[],
): FlagValues<T> {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  for (const [name, flag] of Object.entries(spec.flags)) {
    options[name] = {
      type: flag.kind === 'boolean' ? 'boolean' : 'string',
      multiple: flag.kind === 'string' && flag.multiple === true,
    };
  }
  const args = joinNegativeValues(argv, spec.flags);
  // A lenient pass first, to name unknown flags and stray arguments with a hint before the strict parse.
  const { tokens } = parseArgs({ args, options, strict: false, allowPositionals: true, tokens: true });
  for (const token of tokens) {
    if (token.kind === 'positional') {
      throw new UsageError(`${spec.name}: unexpected argument '${token.value}' (flags take the form --name VALUE)`);
    }
    if (token.kind === 'option' && !(token.name in spec.flags)) {
      const valid = Object.keys(spec.flags);
      const hint = closest(token.name, valid);
      throw new UsageError(
        `${spec.name}: unknown flag '${token.rawName}'${hint ? ` (did you mean --${hint}?)` : ''}; valid flags: ${valid.map((f) => `--${f}`).join(' ')}`,
      );
    }
  }
  let parsed: Record<string, string | boolean | string[] | undefined>;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: false }).values as typeof parsed;
  } catch (err) {
    const message = (err as Error).message.split('\n')[0].replace(/\. To specify .*$/, '');
    throw new UsageError(`${spec.name}: ${message}`);
  }
  const values: Record<string, unknown> = {};
  const given = new Set<string>();
  for (const [name, flag] of Object.entries(spec.flags)) {
    const raw = parsed[name];
    if (raw !== undefined) given.add(name);
    if (flag.kind === 'boolean') {
      values[name] = raw === true;
    } else if (flag.kind === 'string' && flag.multiple) {
      values[name] = ((raw as string[] | undefined) ?? []).map((v) => convert(spec.name, name, flag, v));
    } else if (raw !== undefined) {
      values[name] = convert(spec.name, name, flag, raw as string);
    } else if ((flag.kind === 'string' || flag.kind === 'int' || flag.kind === 'choice') && flag.required) {
      throw new UsageError(`${spec.name}: --${name}${placeholder(flag)} is required (see lithe ${spec.name} --help)`);
    } else {
      values[name] = flag.default;
    }
  }
  return Object.assign(values, { given }) as FlagValues<T>;
}

/** The text after a flag's name in --help: its value placeholder. */
function placeholder(flag: FlagSpec): string {
  switch (flag.kind) {
    case 'string':
      return ` ${flag.value}`;
    case 'choice':
      return ` ${flag.choices.join('|')}`;
    case 'int':
      return ' N';
    case 'number':
      return ' X';
    case 'boolean':
      return '';
  }
}

/** What --help says of a flag's default and range. */
function defaultNote(flag: FlagSpec): string {
  switch (flag.kind) {
    case 'boolean':
      return '';
    case 'string':
      if (flag.required) return ' (required)';
      if (flag.multiple) return ' (repeatable)';
      return flag.default === undefined && flag.defaultText === undefined
        ? ''
        : ` (default: ${flag.defaultText ?? flag.default})`;
    case 'choice': {
      if (flag.required) return ' (required)';
      const text = flag.defaultText ?? flag.default;
      return text === undefined ? '' : ` (default: ${text})`;
    }
    case 'int':
    case 'number': {
      if (flag.kind === 'int' && flag.required) return ` (required; in ${rangeText({ min: 1, ...flag })})`;
      const text = flag.defaultText ?? (flag.default === undefined ? undefined : String(flag.default));
      const range = rangeText(flag.kind === 'int' ? { min: 1, ...flag } : flag);
      return text === undefined ? ` (in ${range})` : ` (default: ${text}; in ${range})`;
    }
  }
}

/** Wrap text to `width` columns after a hanging indent. */
function wrap(text: string, indent: number, width = 100): string {
  const words = text.split(' ');
  const lines: string[] = [];
  let line = '';
  for (const word of words) {
    if (line !== '' && indent + line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  lines.push(line);
  return lines.join(`\n${' '.repeat(indent)}`);
}

/** `lithe <command> --help`: usage, every flag with its default and meaning, examples, exit codes. */
export function commandHelp(spec: CommandSpec): string {
  const flags = Object.entries({ ...spec.flags, help: HELP_FLAG });
  const labels = flags.map(([name, flag]) => `--${name}${placeholder(flag)}`);
  const column = Math.min(34, Math.max(...labels.map((l) => l.length)) + 4);
  const rows = flags.map(([, flag], i) => {
    const label = `  ${labels[i]}`;
    const pad = label.length + 2 > column ? `\n${' '.repeat(column)}` : ' '.repeat(column - label.length);
    return `${label}${pad}${wrap(`${flag.help}${defaultNote(flag)}`, column)}`;
  });
  const parts = [
    `lithe ${spec.name}: ${spec.summary}`,
    `Usage: lithe ${spec.name} ${spec.usage}`,
    `Flags:\n${rows.join('\n')}`,
    ...(spec.notes ?? []).map((n) => wrap(n, 0)),
    `Examples:\n${spec.examples.map((e) => `  ${e}`).join('\n')}`,
    `Exit codes: ${EXIT_CODES}.`,
  ];
  return `${parts.join('\n\n')}\n`;
}

/** --model and --revision, as every command that reads a model takes them. */
export const MODEL_FLAGS = {
  model: {
    kind: 'string',
    value: 'DIR',
    required: true,
    help: 'model directory, or org/name in the Hugging Face cache',
  },
  revision: {
    kind: 'string',
    value: 'REV',
    default: 'main',
    help: 'Hugging Face cache revision (branch, tag or commit)',
  },
} as const satisfies FlagTable;

/** --out and --overwrite of the commands that write a checkpoint beside their reports (prune, lowrank). */
export const CHECKPOINT_OUTPUT_FLAGS = {
  out: {
    kind: 'string',
    value: 'DIR',
    required: true,
    help: 'output directory: new, empty, or a previous lithe output (never the model directory or one holding it)',
  },
  overwrite: {
    kind: 'boolean',
    help: 'write into a non-empty directory lithe did not write (deletes and replaces nothing lithe did not write)',
  },
} as const satisfies FlagTable;

/** How a perplexity after compression is measured: `lithe eval`'s protocol. */
export const EVAL_PROTOCOL_FLAGS = {
  'eval-seqlen': {
    kind: 'int',
    default: 256,
    min: 2,
    max: 1 << 20,
    help: 'perplexity window length (lithe eval --seqlen)',
  },
  'eval-windows': { kind: 'int', defaultText: 'all', help: 'score only the first N windows' },
} as const satisfies FlagTable;
