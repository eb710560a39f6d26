import { LitheError, UsageError } from '../engine/errors.js';
import { demo } from './demo.js';
import { doctor } from './doctor.js';
import { litheVersion } from './version.js';

const HELP = `lithe: make neural networks smaller, cheaper to train and better aligned

Usage: lithe <command> [flags]

Commands:
  doctor      show the compute backend (native or ts), threads and native addon status
  demo        prune the embedded model and compare methods (not available yet)

Flags:
  -h, --help      show this help
  -v, --version   print the version

Environment:
  LITHE_BACKEND=ts   force the TypeScript kernels
  LITHE_THREADS=N    threads for the native kernels
`;

const COMMANDS: Record<string, (argv: string[]) => number | Promise<number>> = { doctor, demo };

/** Run the CLI; returns the exit code. Errors lithe expects are one line on stderr, never a stack. */
export async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  try {
    if (first === undefined || first === '-h' || first === '--help' || first === 'help') {
      process.stdout.write(HELP);
      return 0;
    }
    if (first === '-v' || first === '--version') {
      process.stdout.write(`${litheVersion()}\n`);
      return 0;
    }
    if (first.startsWith('-')) throw new UsageError(`unknown flag '${first}' (see lithe --help)`);
    const command = COMMANDS[first];
    if (!command) throw new UsageError(`unknown command '${first}' (see lithe --help)`);
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(HELP);
      return 0;
    }
    return await command(rest);
  } catch (err) {
    if (err instanceof LitheError) {
      process.stderr.write(`lithe: ${err.message}\n`);
      return err instanceof UsageError ? 2 : 1;
    }
    const detail = process.env.LITHE_DEBUG ? (err as Error).stack : (err as Error).message;
    process.stderr.write(`lithe: internal error: ${detail}\n`);
    return 1;
  }
}
