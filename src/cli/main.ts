import { LowRankError } from '../compress/lowrank/errors.js';
import { PruneError } from '../compress/prune/errors.js';
import { RecipeError } from '../compress/prune/recipe.js';
import { DataError } from '../data/corpora.js';
import { LitheError, UsageError } from '../engine/errors.js';
import { MemoryError } from '../engine/memory.js';
import { CheckpointError, OutputError, outputErrorFrom } from '../io/errors.js';
import { ModelNotFoundError } from '../io/hf-cache.js';
import { closeOpenOutputDirs } from '../io/output-dir.js';
import { TokenizerError } from '../io/tokenizer.js';
import { ConfigError } from '../models/llama/config.js';
import { BpeTrainingError } from '../tokenizer/bpe-trainer.js';
import { litheVersion } from '../version.js';
import { alignCommand, alignSpec } from './align.js';
import { dataArithmeticCommand, dataArithmeticSpec, dataExportCommand, dataExportSpec } from './data.js';
import { demo, demoSpec } from './demo.js';
import { doctorCommand, doctorSpec } from './doctor.js';
import { evalCommand, evalSpec } from './eval.js';
import { type CommandSpec, closest, commandHelp, EXIT_CODES } from './flags.js';
import { generateCommand, generateSpec } from './generate.js';
import { lowrankCommand, lowrankSpec } from './lowrank.js';
import { pruneCommand, pruneSpec } from './prune.js';
import { tokenizerTrainCommand, tokenizerTrainSpec } from './tokenizer.js';
import { trainCommand, trainSpec } from './train.js';

interface Command {
  spec: CommandSpec;
  run: (argv: string[]) => number | Promise<number>;
  /** The command turns Ctrl-C and SIGTERM into a clean stop of its own (train writes a checkpoint). */
  handlesSignals?: boolean;
}

/** Every command, by the words typed after `lithe`; a group's subcommands sit one level down. */
export const COMMANDS: Record<string, Command | Record<string, Command>> = {
  demo: { spec: demoSpec, run: demo },
  prune: { spec: pruneSpec, run: pruneCommand },
  lowrank: { spec: lowrankSpec, run: lowrankCommand },
  eval: { spec: evalSpec, run: evalCommand },
  generate: { spec: generateSpec, run: generateCommand },
  train: { spec: trainSpec, run: trainCommand, handlesSignals: true },
  align: { spec: alignSpec, run: alignCommand, handlesSignals: true },
  tokenizer: { train: { spec: tokenizerTrainSpec, run: tokenizerTrainCommand } },
  data: {
    export: { spec: dataExportSpec, run: dataExportCommand },
    arithmetic: { spec: dataArithmeticSpec, run: dataArithmeticCommand },
  },
  doctor: { spec: doctorSpec, run: doctorCommand },
};

const isCommand = (entry: Command | Record<string, Command>): entry is Command => 'spec' in entry;

/** Errors about what the user gave (flags, files, models, recipes, output paths, sizes): exit code 2. */
const USAGE_ERRORS = [
  UsageError,
  DataError,
  PruneError,
  LowRankError,
  RecipeError,
  ConfigError,
  CheckpointError,
  TokenizerError,
  ModelNotFoundError,
  OutputError,
  MemoryError,
  BpeTrainingError,
];

/** Every command as `lithe` + its words, with its spec. */
export function allCommands(): Command[] {
  return Object.values(COMMANDS).flatMap((entry) => (isCommand(entry) ? [entry] : Object.values(entry)));
}

function globalHelp(): string {
  const rows = allCommands().map(
    ({ spec }) => `  ${spec.name.padEnd(17)}${spec.summary}\n  ${' '.repeat(17)}lithe ${spec.name} ${spec.usage}`,
  );
  return `lithe: make neural networks smaller, cheaper to train and better aligned

Usage: lithe <command> [flags]     lithe <command> --help shows a command's flags, defaults and examples

Commands:
${rows.join('\n')}

Flags:
  -h, --help      show this help
  -v, --version   print the version

Environment:
  LITHE_BACKEND=native|ts   force a backend (default: native when the addon loads)
  LITHE_THREADS=N           threads for the native kernels (1 to 4 x the CPUs, at most 256)
  LITHE_SIMD=avx512|avx2|neon|portable  force the GEMM path (one this CPU runs)
  LITHE_MEMORY_LIMIT=BYTES  what lithe may plan to use (default 90% of RAM; suffixes K, M, G)
  LITHE_CACHE=DIR           cached token ids (default ~/.cache/lithe)
  HF_HOME, HF_HUB_CACHE     where --model org/name is looked up (nothing is downloaded)

Exit codes: ${EXIT_CODES}.
`;
}

/** The command named by argv's first words, and the rest of argv. */
function findCommand(argv: string[]): { command: Command; rest: string[] } | { help: string } {
  const [first, second, ...rest] = argv;
  const entry = COMMANDS[first];
  if (!entry) {
    const hint = closest(first, Object.keys(COMMANDS));
    throw new UsageError(`unknown command '${first}'${hint ? ` (did you mean ${hint}?)` : ''} (see lithe --help)`);
  }
  if (isCommand(entry)) return { command: entry, rest: argv.slice(1) };
  const subcommands = Object.keys(entry).join(', ');
  if (second === undefined || second === '--help' || second === '-h') {
    if (second === undefined)
      throw new UsageError(`${first}: missing subcommand (${subcommands}); see lithe ${first} --help`);
    return {
      help: Object.values(entry)
        .map((c) => commandHelp(c.spec))
        .join('\n'),
    };
  }
  const sub = entry[second];
  if (!sub) throw new UsageError(`${first}: unknown subcommand '${second}' (${subcommands})`);
  return { command: sub, rest };
}

/** Exit code and one line for an error: lithe's own as they are, ordinary I/O errors with their path, others as internal. */
export function describeError(err: unknown): { code: number; line: string } {
  if (err instanceof LitheError) {
    return { code: USAGE_ERRORS.some((type) => err instanceof type) ? 2 : 1, line: err.message };
  }
  // An ordinary I/O failure (EACCES, ENOSPC, ...) outside lithe's own checks: one line with the path, not a stack.
  const io = outputErrorFrom(err, (err as NodeJS.ErrnoException).path ?? '', 'use');
  if (io instanceof OutputError) return { code: 1, line: io.message };
  const detail = process.env.LITHE_DEBUG ? (err as Error).stack : (err as Error).message;
  return { code: 1, line: `internal error: ${detail}` };
}

/**
 * Run fn so that Ctrl-C or SIGTERM stops at once but tidily: output directories are unlocked (and removed when this
 * run created them and wrote nothing), then the process exits with 128 + the signal number, as a shell reports it.
 */
async function withCleanExitOnSignal(fn: () => number | Promise<number>): Promise<number> {
  const onSignal = (signal: NodeJS.Signals) => {
    closeOpenOutputDirs();
    process.stderr.write(`\nlithe: interrupted (${signal}); files already complete were kept\n`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await fn();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Run the CLI; returns the exit code. Errors lithe expects are one line on stderr, never a stack. */
export async function main(argv: string[]): Promise<number> {
  const [first] = argv;
  try {
    if (first === undefined || first === '-h' || first === '--help' || first === 'help') {
      process.stdout.write(globalHelp());
      return 0;
    }
    if (first === '-v' || first === '--version') {
      process.stdout.write(`${litheVersion()}\n`);
      return 0;
    }
    if (first.startsWith('-')) throw new UsageError(`unknown flag '${first}' (see lithe --help)`);
    const found = findCommand(argv);
    if ('help' in found) {
      process.stdout.write(found.help);
      return 0;
    }
    if (found.rest.includes('--help') || found.rest.includes('-h')) {
      process.stdout.write(commandHelp(found.command.spec));
      return 0;
    }
    if (found.command.handlesSignals) return await found.command.run(found.rest);
    return await withCleanExitOnSignal(() => found.command.run(found.rest));
  } catch (err) {
    const { code, line } = describeError(err);
    process.stderr.write(`lithe: ${line}\n`);
    return code;
  }
}
