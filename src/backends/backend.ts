import { allocUninit, type DType, type Storage } from '../engine/dtype.js';
import type { KernelName, Kernels } from './kernels.js';
import { HostStorage, type StorageHandle } from './storage.js';

/** One backend's implementation of one kernel. */
export interface KernelEntry<K extends KernelName> {
  run: Kernels[K];
  /** The dtypes it computes in ('all' for the reference); resolved once per (kernel, dtype), not per call. */
  dtypes: readonly DType[] | 'all';
  /**
   * The calls it takes, when that depends on more than the dtype (a shape it has no loop for, an op code it lacks):
   * a cheap check run per call; a false one goes to the next backend in the chain.
   */
  accepts?: (...args: Parameters<Kernels[K]>) => boolean;
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
  /** Storage for `length` elements of dtype (contents unspecified). */
  allocate(dtype: DType, length: number): StorageHandle;
  /** Copy host values into handle, starting at element offset. */
  write(handle: StorageHandle, host: Storage, offset?: number): void;
  /** The handle's elements on the host. */
  read(handle: StorageHandle): Promise<Storage>;
  /** The same without waiting, where the backend can (host backends can; a GPU one may not). */
  readSync?(handle: StorageHandle): Storage;
  readonly kernels: KernelTable;
  /** Whether it serves kernel for dtype (and, given args, for that very call). */
  supports<K extends KernelName>(kernel: K, dtype: DType, args?: Parameters<Kernels[K]>): boolean;
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
    allocate: (dtype, length) => new HostStorage(allocUninit(dtype, length)),
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
