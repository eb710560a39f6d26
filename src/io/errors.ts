import { LitheError } from '../engine/errors.js';

/** A checkpoint file that is missing, malformed, or holds a tensor lithe cannot represent. */
export class CheckpointError extends LitheError {
  /** The file at fault. */
  readonly file: string;
  /** The tensor at fault, when the problem is with one tensor. */
  readonly tensor: string | undefined;

  constructor(file: string, message: string, tensor?: string) {
    super(`${file}${tensor === undefined ? '' : `: tensor '${tensor}'`}: ${message}`);
    this.file = file;
    this.tensor = tensor;
  }
}

/** Why a file could not be opened or read, in words, from the error Node threw (EISDIR and the like mean little). */
export function fileErrorReason(err: unknown): string {
  const { code, message } = err as NodeJS.ErrnoException;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EISDIR':
      return 'is a directory, not a file';
    case 'ENOTDIR':
      return 'a component of the path is not a directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    default:
      return `cannot read (${code ?? message})`;
  }
}

/**
 * Text for a terminal: control, format, private-use, unassigned and separator characters and lone surrogates written
 * as JSON-style escapes (`\u001b`), so that bytes quoted from a binary file cannot drive the terminal.
 */
export function printable(text: string): string {
  return text.replace(/[\p{C}\p{Zl}\p{Zp}]/gu, (c) =>
    Array.from({ length: c.length }, (_, i) => `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`).join(''),
  );
}

/** A JSON.parse (or decoding) error's message, printable: V8's quotes part of the input, escape codes and all. */
export function jsonErrorMessage(err: unknown): string {
  return printable((err as Error).message);
}
