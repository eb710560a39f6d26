import { hostKernelsFor } from '../backends/registry.js';
import { HostStorage, readStorage, readStorageSync, type StorageHandle } from '../backends/storage.js';
import { backward } from './autograd.js';
import {
  allocStorage,
  convertStorage,
  type DType,
  type FloatArray,
  type FloatDType,
  isFloatCompute,
  readElement,
  type Storage,
} from './dtype.js';
import { DTypeError, ShapeError } from './errors.js';
import { contiguousStrides, isContiguous, numel, type Shape } from './shape.js';

/** One recorded op on the tape: how to turn the output's gradient into its inputs' gradients. */
export interface GradNode {
  readonly op: string;
  inputs: Tensor[];
  /** Returns one gradient per input (null where none flows); null once the graph is freed. */
  backward: ((grad: Tensor) => (Tensor | null)[]) | null;
}

export interface TensorOptions {
  dtype?: DType;
  requiresGrad?: boolean;
}

/**
 * An n-dimensional array: a backend's storage handle viewed through a shape, strides and an offset.
 * Views (reshape, transpose, slice, expand) share storage; ops return new tensors. Values reach the host only through
 * the explicit calls dataSync(), floatData(), toArray(), item() and toHost().
 */
export class Tensor {
  readonly storage: StorageHandle;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
  readonly dtype: DType;
  requiresGrad: boolean;
  /** Accumulated gradient of a leaf that requires grad. */
  grad: Tensor | null = null;
  /** The op that produced this tensor, when it was recorded on the tape. */
  gradNode: GradNode | null = null;

  /** `data` is a storage handle, or a host typed array of the dtype's storage kind (wrapped without a copy). */
  constructor(
    data: Storage | StorageHandle,
    shape: Shape,
    dtype: DType,
    strides?: Shape,
    offset = 0,
    requiresGrad = false,
  ) {
    this.storage = data instanceof HostStorage ? data : new HostStorage(data);
    this.shape = Object.freeze([...shape]);
    this.strides = Object.freeze(strides ? [...strides] : contiguousStrides(shape));
    this.offset = offset;
    this.dtype = dtype;
    this.requiresGrad = requiresGrad;
    if (requiresGrad && !isFloatCompute(dtype)) {
      throw new DTypeError(`only f32/f64 tensors can require grad, got ${dtype}`);
    }
  }

  get rank(): number {
    return this.shape.length;
  }

  get size(): number {
    return numel(this.shape);
  }

  get isLeaf(): boolean {
    return this.gradNode === null;
  }

  isContiguous(): boolean {
    return isContiguous(this.shape, this.strides);
  }

  /**
   * The elements in logical (row-major) order as a host array of this dtype; copies only when needed. For a contiguous
   * tensor on host storage it is a view of the storage, so writing into it writes the tensor (in-place optimiser and
   * pruning updates rely on that; a device backend would return a copy, and those updates would become kernels).
   */
  dataSync(): Storage {
    const host = readStorageSync(this.storage);
    if (this.isContiguous()) return host.subarray(this.offset, this.offset + this.size);
    return hostKernelsFor(this.dtype).copyStrided(host, this.shape, this.strides, this.offset);
  }

  /**
   * This tensor's elements in row-major order as a storage handle of its dtype, starting at element 0: its own
   * storage when it already is that, a view of it when it is contiguous from an offset, else a copy. What ops pass
   * to a kernel that reads a dense operand; a kernel that writes through it writes the tensor only when it is
   * contiguous (isContiguous()).
   */
  denseStorage(): StorageHandle {
    if (this.isContiguous()) {
      if (this.offset === 0 && this.storage.length === this.size) return this.storage;
      return new HostStorage(this.storage.array.subarray(this.offset, this.offset + this.size));
    }
    const host = readStorageSync(this.storage);
    return new HostStorage(hostKernelsFor(this.dtype).copyStrided(host, this.shape, this.strides, this.offset));
  }

  /** dataSync() without blocking: what a caller that can wait uses (a device backend reads back asynchronously). */
  async toHost(): Promise<Storage> {
    const host = await readStorage(this.storage);
    if (this.isContiguous()) return host.subarray(this.offset, this.offset + this.size);
    return hostKernelsFor(this.dtype).copyStrided(host, this.shape, this.strides, this.offset);
  }

  /** Float data in logical order for a compute dtype (f32/f64); throws for storage-only dtypes. */
  floatData(): FloatArray {
    if (!isFloatCompute(this.dtype)) throw new DTypeError(`expected f32 or f64, got ${this.dtype}`);
    return this.dataSync() as FloatArray;
  }

  /** Values as plain numbers in row-major order, decoding half formats. */
  toArray(): number[] {
    const flat = this.dataSync();
    const out = new Array<number>(flat.length);
    for (let i = 0; i < flat.length; i++) out[i] = readElement(this.dtype, flat, i);
    return out;
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new ShapeError(`item() needs one element, shape is [${this.shape}]`);
    return readElement(this.dtype, readStorageSync(this.storage), this.offset);
  }

  /** A tensor sharing storage but cut off from the tape. */
  detach(): Tensor {
    return new Tensor(this.storage, this.shape, this.dtype, this.strides, this.offset, false);
  }

  /** A contiguous copy with no autograd history. */
  clone(): Tensor {
    const flat = this.dataSync();
    const copy = allocStorage(this.dtype, flat.length);
    copy.set(flat as never);
    return new Tensor(copy, this.shape, this.dtype);
  }

  /** Convert to another dtype (a copy; no gradient flows through a cast). */
  to(dtype: DType): Tensor {
    if (dtype === this.dtype) return this;
    return new Tensor(convertStorage(this.dataSync(), this.dtype, dtype), this.shape, dtype);
  }

  /** Reverse-mode autodiff from this tensor; a non-scalar needs an explicit output gradient. */
  backward(grad?: Tensor, options?: { retainGraph?: boolean }): void {
    backward(this, grad, options);
  }

  /** Mark a leaf as trainable (returns this). */
  requiresGrad_(flag = true): this {
    if (flag && !isFloatCompute(this.dtype)) {
      throw new DTypeError(`only f32/f64 tensors can require grad, got ${this.dtype}`);
    }
    this.requiresGrad = flag;
    return this;
  }

  toString(): string {
    const vals = this.toArray();
    const shown = vals.length > 8 ? `${vals.slice(0, 8).join(', ')}, ...` : vals.join(', ');
    return `Tensor(shape=[${this.shape}], dtype=${this.dtype}, [${shown}])`;
  }
}

/** The compute dtype of a result: f64 if any input is f64, else f32. */
export function resultDType(...tensors: Tensor[]): FloatDType {
  return tensors.some((t) => t.dtype === 'f64') ? 'f64' : 'f32';
}

/** Float view of a tensor for arithmetic: storage dtypes (half, ints, bool) are converted to f32. */
export function asFloat(t: Tensor): Tensor {
  if (!(t instanceof Tensor)) throw new DTypeError(`expected a Tensor, got ${describeValue(t)}`);
  return isFloatCompute(t.dtype) ? t : t.to('f32');
}

/** What a value that should have been a tensor or a number is, for an error message: 'a string', 'null', 'an Array'. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value !== 'object') return `a ${typeof value}`;
  const name = (value as object).constructor?.name ?? 'Object';
  return `${/^[AEIOU]/.test(name) ? 'an' : 'a'} ${name}`;
}

/** Wrap a contiguous float array as a tensor. */
export function fromFloat(data: FloatArray, shape: Shape): Tensor {
  if (data.length !== numel(shape)) {
    throw new ShapeError(`data of length ${data.length} does not fit shape [${shape}]`);
  }
  return new Tensor(data, shape, data instanceof Float64Array ? 'f64' : 'f32');
}
