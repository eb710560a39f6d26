import { allocStorage, allocUninit, type DType, type Storage } from '../engine/dtype.js';
import type { HostKernels, KernelName, Kernels } from './kernels.js';
import { HostStorage, type StorageHandle } from './storage.js';

/** One backend's implementation of one kernel. */
export interface KernelEntry<K extends KernelName> {
  run: HostKernels[K];
  /** The dtypes it computes in ('all' for the reference); resolved once per (kernel, dtype), not per call. */
  dtypes: readonly DType[] | 'all';
  /**
   * The calls it takes, when that depends on more than the dtype (a shape it has no loop for, an op code it lacks):
   * a cheap check run per call; a false one goes to the next backend in the chain.
   */
  accepts?: (...args: Parameters<HostKernels[K]>) => boolean;
  /** Other kernels it runs through the chain (a composite, e.g. convolution's GEMMs): for `lithe doctor`. */
  uses?: readonly KernelName[];
}

/** A backend's kernels by name; a backend may lack any of them (the chain falls through to the next). */
export type KernelTable = { [K in KernelName]?: KernelEntry<K> };

/** The reference table lacks none. */
export type CompleteKernelTable = { [K in KernelName]: KernelEntry<K> };

/**
 * A place where tensors live and kernels run (tinygrad's Allocator + runtime, ggml's ggml_backend): it allocates and
 * moves its own storage and says which kernels it serves. The native addon and the TypeScript kernels both compute in
 * host memory, so they share HostStorage; a device backend brings its own handle kind (see backends/storage.ts).
 */
export interface Backend {
  readonly name: string;
  readonly storageKind: StorageHandle['kind'];
  /** Storage for `length` elements of dtype: zeros when `zeroed`, else contents unspecified. */
  allocate(dtype: DType, length: number, zeroed?: boolean): StorageHandle;
  /** Storage holding values made on the host (a host backend wraps them without a copy). */
  upload(host: Storage): StorageHandle;
  /** Copy host values into handle, starting at element offset. */
  write(handle: StorageHandle, host: Storage, offset?: number): void;
  /** The handle's elements on the host. */
  read(handle: StorageHandle): Promise<Storage>;
  /** The same without waiting, where the backend can (host backends can; a GPU one may not). */
  readSync?(handle: StorageHandle): Storage;
  readonly kernels: KernelTable;
  /** Whether it serves kernel for dtype (and, given args, for that very call). */
  supports<K extends KernelName>(kernel: K, dtype: DType, args?: Parameters<HostKernels[K]>): boolean;
}

/** Whether entry computes in dtype. */
export function entryServes(entry: KernelEntry<KernelName> | undefined, dtype: DType): boolean {
  return entry !== undefined && (entry.dtypes === 'all' || entry.dtypes.includes(dtype));
}

/** A backend that computes in host memory with the given kernels. */
export function hostBackend(name: string, kernels: KernelTable): Backend {
  return {
    name,
    storageKind: 'host',
    allocate: (dtype, length, zeroed = false) =>
      new HostStorage(zeroed ? allocStorage(dtype, length) : allocUninit(dtype, length)),
    upload: (host) => new HostStorage(host),
    write: (handle, host, offset = 0) => handle.array.set(host as never, offset),
    read: async (handle) => handle.array,
    readSync: (handle) => handle.array,
    kernels,
    supports(kernel, dtype, args) {
      const entry = kernels[kernel] as KernelEntry<typeof kernel> | undefined;
      if (!entryServes(entry as KernelEntry<KernelName> | undefined, dtype)) return false;
      return !args || !entry?.accepts || (entry.accepts as (...a: unknown[]) => boolean)(...args);
    },
  };
}

/** The host array behind each handle in a kernel argument, inside argument objects and lists too; all else as it is. */
function unwrapArgument(value: unknown): unknown {
  if (value instanceof HostStorage) return value.array;
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return value;
  if (Array.isArray(value)) return value.length > 0 && typeof value[0] === 'object' ? value.map(unwrapArgument) : value;
  // A class instance (a quantised weight) is passed as it is; a plain argument object is rebuilt with arrays.
  if (Object.getPrototypeOf(value) !== Object.prototype) return value;
  // The commonest argument object, a strided operand, gets a fixed shape (cheaper than copying keys one by one).
  const operand = value as { data?: unknown; strides?: unknown; offset?: unknown };
  if (operand.data instanceof HostStorage && Object.keys(value).length === 3 && operand.strides !== undefined) {
    return { data: operand.data.array, strides: operand.strides, offset: operand.offset };
  }
  const out: Record<string, unknown> = {};
  for (const key in value) out[key] = unwrapArgument((value as Record<string, unknown>)[key]);
  return out;
}

/** A kernel's result as ops receive it: a host array wrapped as storage (no copy), anything else as it is. */
function wrapResult(value: unknown): unknown {
  return ArrayBuffer.isView(value) ? new HostStorage(value as Storage) : value;
}

/** A kernel call with its arguments as fixed parameters: MAX_KERNEL_ARGS of them, the most any kernel takes. */
export type KernelCall<R = unknown> = (
  a: unknown,
  b: unknown,
  c: unknown,
  d: unknown,
  e: unknown,
  f: unknown,
  g: unknown,
  h: unknown,
  i: unknown,
  j: unknown,
) => R;

const MAX_KERNEL_ARGS = 10;

const same = (value: unknown): unknown => value;

/**
 * A per-call wrapper of kernels: each argument mapped by `argument`, the kernel to run picked by `pick` from the mapped
 * arguments, its result mapped by `result`. Fixed parameters rather than rest and spread, so that the wrapper
 * allocates nothing of its own; the chain's per-call fallback and the handle adapter below are both one of these.
 */
export function kernelWrapper(
  pick: KernelCall<KernelCall>,
  argument: (value: unknown) => unknown = same,
  result: (value: unknown) => unknown = same,
): KernelCall {
  const m = argument;
  return (a, b, c, d, e, f, g, h, i, j) => {
    a = m(a);
    b = m(b);
    c = m(c);
    d = m(d);
    e = m(e);
    f = m(f);
    g = m(g);
    h = m(h);
    i = m(i);
    j = m(j);
    return result(pick(a, b, c, d, e, f, g, h, i, j)(a, b, c, d, e, f, g, h, i, j));
  };
}

/**
 * The kernels of a chain of host backends as ops call them: the handles they pass are unwrapped to the arrays the host
 * kernels take, and an array result comes back as a handle.
 */
export function onHostStorage(table: HostKernels): Kernels {
  const entries = Object.entries(table).map(([name, run]) => {
    const call = run as KernelCall;
    if (call.length > MAX_KERNEL_ARGS) {
      throw new Error(`kernel ${name} takes ${call.length} arguments, more than ${MAX_KERNEL_ARGS}`);
    }
    return [name, kernelWrapper(() => call, unwrapArgument, wrapResult)];
  });
  return Object.fromEntries(entries) as unknown as Kernels;
}
