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
