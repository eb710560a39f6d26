import { LitheError } from '../engine/errors.js';
import { StateDictError } from '../nn/state-dict.js';

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

/** A state that does not fit its model (StateDictError) as a CheckpointError naming `file`; anything else as it is. */
export function checkpointErrorFrom(err: unknown, file: string): unknown {
  return err instanceof StateDictError ? new CheckpointError(file, err.reason, err.tensor) : err;
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

/** What each ordinary I/O failure means, so that a refused write reads as a sentence, not a stack trace. */
const IO_CODE_WORDS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on device',
  EEXIST: 'already exists',
  EISDIR: 'is a directory',
  ENOTDIR: 'a parent is not a directory',
  EBUSY: 'busy or in use',
  EROFS: 'read-only file system',
  ENOENT: 'no such file or directory',
};

/** An output path lithe refuses to write, or cannot write; the message is one line and names the path. */
export class OutputError extends LitheError {
  /** The path at fault. */
  readonly path: string;
  /** The system error code (EACCES, ENOSPC, ...), when the operating system refused. */
  readonly code: string | undefined;

  constructor(path: string, message: string, code?: string) {
    super(message);
    this.path = path;
    this.code = code;
  }
}

/** A Node errno error's code, or undefined for anything else (a bug, a LitheError). */
function errnoCode(err: unknown): string | undefined {
  const { code, errno } = (err ?? {}) as NodeJS.ErrnoException;
  return typeof code === 'string' && typeof errno === 'number' ? code : undefined;
}

/**
 * Turn an operating-system error met while acting on `path` into an OutputError such as
 * "cannot write /x/out (permission denied, EACCES)"; anything else is returned as it is.
 */
export function outputErrorFrom(err: unknown, path: string, action = 'write'): unknown {
  if (err instanceof OutputError) return err;
  const code = errnoCode(err);
  if (code === undefined) return err;
  const words = IO_CODE_WORDS[code];
  return new OutputError(path, `cannot ${action} ${path} (${words ? `${words}, ` : ''}${code})`, code);
}
