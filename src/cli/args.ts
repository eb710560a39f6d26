import { type ParseArgsConfig, parseArgs } from 'node:util';
import { UsageError } from '../engine/errors.js';

type OptionSpec = NonNullable<ParseArgsConfig['options']>;
type Parsed<T extends OptionSpec> = ReturnType<typeof parseArgs<{ options: T; strict: true; allowPositionals: false }>>;

/** Strict flag parsing: an unknown flag or a missing value is a UsageError (exit code 2). */
export function parseFlags<T extends OptionSpec>(command: string, argv: string[], options: T): Parsed<T> {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false });
  } catch (err) {
    const message = (err as Error).message.split('\n')[0].replace(/\. To specify a positional.*$/, '');
    throw new UsageError(`${command}: ${message}`);
  }
}
