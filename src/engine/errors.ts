/** Base class of every error lithe throws on purpose; the CLI prints these as one line. */
export class LitheError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Incompatible shapes, bad axes, or an index out of range. */
export class ShapeError extends LitheError {}

/** An op received a dtype it does not accept. */
export class DTypeError extends LitheError {}

/** Misuse of the autograd tape, e.g. a second backward through a freed graph. */
export class AutogradError extends LitheError {}

/** A numerical routine failed, e.g. Cholesky of a matrix that is not positive definite. */
export class NumericalError extends LitheError {}

/** Bad command-line usage; the CLI exits with code 2. */
export class UsageError extends LitheError {}

/** A LITHE_* environment variable with a value lithe cannot use; a usage error, so the CLI exits with code 2. */
export class EnvError extends UsageError {
  constructor(variable: string, value: string, allowed: string) {
    super(`${variable}=${JSON.stringify(value)} is not valid: ${allowed}`);
  }
}

/** A long operation stopped because its AbortSignal fired; what it changed in place so far stays changed. */
export class OperationAbortedError extends LitheError {
  constructor() {
    super('aborted');
  }
}
