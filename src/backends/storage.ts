import type { Storage } from '../engine/dtype.js';

/**
 * The storage of a tensor on a backend that computes in host memory (the native addon and the TypeScript kernels share
 * it): a typed array behind an opaque handle, in the manner of tfjs's dataId or tinygrad's Buffer. Only src/backends/**,
 * src/engine (the Tensor's host calls) and src/io/** unwrap it (`hostArray`); everything else passes the handle on or reads values through the Tensor's
 * explicit host calls (dataSync, floatData, toArray, item, toHost).
 *
 * A device backend (webgpu, cuda) adds its own handle class here, e.g. `class DeviceStorage { kind = 'webgpu';
 * buffer: GPUBuffer; length }`, joins it to `StorageHandle`, and implements its Backend's allocate/write/read (a
 * staging copy for read) so that `readStorage` works on it; its kernels take its own handles, and the resolution
 * chain moves tensors between kinds with write/read where a kernel runs on another backend.
 */
export class HostStorage {
  readonly kind = 'host';
  constructor(readonly array: Storage) {}

  get length(): number {
    return this.array.length;
  }
}

/** Every kind of storage a tensor can hold; one kind today (host memory). */
export type StorageHandle = HostStorage;

/** The typed array behind host storage: for backends and io only (the host-access test enforces it). */
export function hostArray(handle: StorageHandle): Storage {
  return handle.array;
}

/** A synchronous read of a handle's elements to host memory (no copy for host storage). */
export function readStorageSync(handle: StorageHandle): Storage {
  return handle.array;
}

/** An asynchronous read of a handle's elements to host memory (what a device backend would await). */
export async function readStorage(handle: StorageHandle): Promise<Storage> {
  return handle.array;
}
