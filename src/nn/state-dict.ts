import type { DType } from '../engine/dtype.js';
import { LitheError } from '../engine/errors.js';
import { type OnProgress, progressReporter, throwIfAborted, yieldOrAbort } from '../engine/progress.js';
import { shapesEqual } from '../engine/shape.js';
import type { Tensor } from '../engine/tensor.js';
import type { Module } from './module.js';

/**
 * Named tensors to load from, whatever holds them (a safetensors file, shards, an in-memory map): defined here so
 * that nn need not know io. Headers (names, shapes, dtypes) are cheap; `read` may read a file.
 */
export interface StateReader {
  readonly names: readonly string[];
  shape(name: string): readonly number[];
  dtype(name: string): DType;
  read(name: string): Tensor;
}

/** What a loaded tensor must be: its shape, and a dtype the stored one converts to. */
export interface TensorSpec {
  shape: readonly number[];
  dtype: DType;
}

/** A state that does not fit its target; `tensor` names the tensor when one is at fault. io rewraps it with the file. */
export class StateDictError extends LitheError {
  constructor(
    readonly reason: string,
    readonly tensor?: string,
  ) {
    super(tensor === undefined ? reason : `tensor '${tensor}': ${reason}`);
  }
}

export interface ReadStateOptions {
  /** true (default): a name the target has and the reader lacks, or the other way round, is an error. */
  strict?: boolean;
  /** Reader names that are neither state nor unexpected (e.g. a tied lm_head.weight, RoPE's cached inv_freq). */
  ignore?: (name: string) => boolean;
  /**
   * Called with each tensor as read and converted to its spec's dtype, before anything is written; it throws (e.g. a
   * StateDictError) to refuse the tensor. io's rejectNonFinite refuses NaN and ±Inf (checkpoints: a broken weight must
   * not load silently).
   */
  check?: (name: string, value: Tensor) => void;
  onProgress?: OnProgress;
  /** Aborting stops between tensor reads (async form only) with an OperationAbortedError. */
  signal?: AbortSignal;
}

export const FLOAT_DTYPES: ReadonlySet<DType> = new Set(['f32', 'f64', 'f16', 'bf16']);

/** Floats convert to floats, integers and bools to integers and bools; nothing crosses (a float mask is a bug). */
function convertible(from: DType, to: DType): boolean {
  return FLOAT_DTYPES.has(from) === FLOAT_DTYPES.has(to);
}

/** The names, shapes and dtypes checked against the reader's headers; returns the names to read, in target order. */
function checkHeaders(expected: ReadonlyMap<string, TensorSpec>, reader: StateReader, options: ReadStateOptions) {
  const strict = options.strict ?? true;
  const stored = new Set(reader.names);
  const present: string[] = [];
  for (const [name, spec] of expected) {
    if (!stored.has(name)) {
      if (strict) throw new StateDictError('missing from the checkpoint', name);
      continue;
    }
    const shape = reader.shape(name);
    if (!shapesEqual(shape, spec.shape))
      throw new StateDictError(`has shape [${shape}], the model [${spec.shape}]`, name);
    const dtype = reader.dtype(name);
    if (!convertible(dtype, spec.dtype))
      throw new StateDictError(`is ${dtype}, which cannot load into ${spec.dtype}`, name);
    present.push(name);
  }
  const unexpected = reader.names.filter((n) => !expected.has(n) && !options.ignore?.(n));
  if (strict && unexpected.length > 0) {
    throw new StateDictError(`holds tensors the model does not have: ${unexpected.slice(0, 5).join(', ')}`);
  }
  return present;
}

/**
 * All headers checked first; then each tensor read, converted to its spec's dtype (once: writing it is then a copy)
 * and checked, yielded in turn. Nothing is written here.
 */
function* checkedReads(
  expected: ReadonlyMap<string, TensorSpec>,
  reader: StateReader,
  options: ReadStateOptions,
): Generator<[string, Tensor]> {
  const names = checkHeaders(expected, reader, options);
  const report = progressReporter(options.onProgress, 'load', names.length, 'tensor');
  for (const [i, name] of names.entries()) {
    const stored = reader.read(name);
    const dtype = (expected.get(name) as TensorSpec).dtype;
    const value = stored.dtype === dtype ? stored : stored.to(dtype);
    options.check?.(name, value);
    report(i + 1);
    yield [name, value];
  }
}

/** Run checkedReads to the end, yielding to the event loop after each tensor (and stopping there when aborted). */
async function eachRead(
  steps: Generator<[string, Tensor]>,
  signal: AbortSignal | undefined,
  use: (name: string, t: Tensor) => void,
): Promise<void> {
  throwIfAborted(signal);
  for (const [name, t] of steps) {
    use(name, t);
    await yieldOrAbort(signal);
  }
}

/**
 * Read every tensor `expected` names from `reader`, checking names (strict), shapes, dtypes and (optionally) values;
 * returns them converted to the specs' dtypes. Shared by module state, training resume and optimiser state.
 */
export function readState(
  expected: ReadonlyMap<string, TensorSpec>,
  reader: StateReader,
  options: ReadStateOptions = {},
): Map<string, Tensor> {
  return new Map(checkedReads(expected, reader, options));
}

/** readState that yields to the event loop after each tensor read, and stops there when `signal` is aborted. */
export async function readStateAsync(
  expected: ReadonlyMap<string, TensorSpec>,
  reader: StateReader,
  options: ReadStateOptions = {},
): Promise<Map<string, Tensor>> {
  const values = new Map<string, Tensor>();
  await eachRead(checkedReads(expected, reader, options), options.signal, (name, t) => values.set(name, t));
  return values;
}

/** A module's saved state: its parameters, then its persistent buffers (non-persistent ones, e.g. masks, are not). */
export function stateDict(module: Module): Map<string, Tensor> {
  return new Map([...module.namedParameters(), ...module.namedBuffers({ persistentOnly: true })]);
}

/** What `module`'s state must look like in a reader: every state tensor's name, shape and dtype. */
export function stateSpecs(module: Module): Map<string, TensorSpec> {
  return new Map([...stateDict(module)].map(([name, t]) => [name, { shape: t.shape, dtype: t.dtype }]));
}

/** A module's state read and checked, not yet written: `apply()` copies it in, keeping every tensor's identity. */
export interface StagedState {
  /** The names that will be written (all of the module's state under strict). */
  readonly names: readonly string[];
  apply(): void;
}

/** Write one state tensor into `module` in place: a persistent buffer or a parameter (whose mask is re-applied). */
function writeState(module: Module, buffers: ReadonlyMap<string, Tensor>, name: string, t: Tensor): void {
  if (buffers.has(name)) module.setBuffer(name, t);
  else module.setParameter(name, t);
}

function staged(module: Module, values: Map<string, Tensor>): StagedState {
  const buffers = module.namedBuffers({ persistentOnly: true });
  return {
    names: [...values.keys()],
    apply: () => {
      for (const [name, t] of values) writeState(module, buffers, name, t);
    },
  };
}

/** Read and check `module`'s state from `reader` without changing the module (e.g. to check a resume whole first). */
export function stageStateDict(module: Module, reader: StateReader, options: ReadStateOptions = {}): StagedState {
  return staged(module, readState(stateSpecs(module), reader, options));
}

/** stageStateDict, yielding between tensor reads (progress and abort). */
export async function stageStateDictAsync(
  module: Module,
  reader: StateReader,
  options: ReadStateOptions = {},
): Promise<StagedState> {
  return staged(module, await readStateAsync(stateSpecs(module), reader, options));
}

/**
 * Load parameters and persistent buffers from `reader` into `module` in place (the optimiser's tensors stay valid;
 * masks are re-applied). Everything is checked before anything is written, so a failed load changes nothing.
 */
export function loadStateDict(module: Module, reader: StateReader, options: ReadStateOptions = {}): void {
  stageStateDict(module, reader, options).apply();
}

/**
 * Load into a module built for this load, which nothing else holds yet (loadModel's): every header is checked first,
 * then each tensor is written as soon as it is read and checked, so memory stays one model plus one tensor. A failure
 * part-way leaves the module part-loaded; discard it.
 */
export async function loadNewModuleState(
  module: Module,
  reader: StateReader,
  options: ReadStateOptions = {},
): Promise<void> {
  const buffers = module.namedBuffers({ persistentOnly: true });
  const steps = checkedReads(stateSpecs(module), reader, options);
  await eachRead(steps, options.signal, (name, t) => writeState(module, buffers, name, t));
}
