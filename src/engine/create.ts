import { allocStorage, type DType, encodeElement, type Storage } from './dtype.js';
import { ShapeError } from './errors.js';
import { globalRng, type Rng } from './rng.js';
import { checkShape, numel, type Shape } from './shape.js';
import { Tensor, type TensorOptions } from './tensor.js';

type Nested = number | boolean | Nested[];

function inferShape(values: Nested): number[] {
  const shape: number[] = [];
  let v: Nested = values;
  while (Array.isArray(v)) {
    shape.push(v.length);
    v = v[0] as Nested;
  }
  return shape;
}

function flatten(values: Nested, shape: number[], depth: number, out: number[]): void {
  if (depth === shape.length) {
    if (Array.isArray(values)) throw new ShapeError('ragged nested array');
    out.push(Number(values));
    return;
  }
  if (!Array.isArray(values) || values.length !== shape[depth]) throw new ShapeError('ragged nested array');
  for (const v of values) flatten(v, shape, depth + 1, out);
}

/**
 * Make a tensor from nested arrays, a flat array plus shape, or a typed array plus shape.
 * A typed array of the dtype's storage kind is used without copying.
 */
export function tensor(
  values: Nested | Storage | readonly number[],
  shape?: Shape,
  options: TensorOptions = {},
): Tensor {
  const dtype = options.dtype ?? 'f32';
  if (ArrayBuffer.isView(values)) {
    const s = shape ?? [values.length];
    checkShape(s);
    if (numel(s) !== values.length) throw new ShapeError(`${values.length} values do not fit shape [${s}]`);
    const sameKind = allocStorage(dtype, 0).constructor === values.constructor;
    const data = sameKind ? values : fromNumbers(Array.from(values as ArrayLike<number>), dtype);
    return new Tensor(data, s, dtype, undefined, 0, options.requiresGrad ?? false);
  }
  let flat: number[];
  let s: number[];
  if (shape) {
    s = [...shape];
    flat = [];
    flatten(values as Nested, inferShape(values as Nested), 0, flat);
  } else {
    s = inferShape(values as Nested);
    flat = [];
    flatten(values as Nested, s, 0, flat);
  }
  checkShape(s);
  if (flat.length !== numel(s)) throw new ShapeError(`${flat.length} values do not fit shape [${s}]`);
  return new Tensor(fromNumbers(flat, dtype), s, dtype, undefined, 0, options.requiresGrad ?? false);
}

function fromNumbers(values: number[], dtype: DType): Storage {
  const data = allocStorage(dtype, values.length);
  for (let i = 0; i < values.length; i++) data[i] = encodeElement(dtype, values[i]);
  return data;
}

export function full(shape: Shape, value: number, options: TensorOptions = {}): Tensor {
  checkShape(shape);
  const dtype = options.dtype ?? 'f32';
  const data = allocStorage(dtype, numel(shape));
  if (value !== 0) data.fill(encodeElement(dtype, value));
  return new Tensor(data, shape, dtype, undefined, 0, options.requiresGrad ?? false);
}

export function zeros(shape: Shape, options: TensorOptions = {}): Tensor {
  return full(shape, 0, options);
}

export function ones(shape: Shape, options: TensorOptions = {}): Tensor {
  return full(shape, 1, options);
}

export function scalar(value: number, options: TensorOptions = {}): Tensor {
  return full([], value, options);
}

export interface RandomOptions extends TensorOptions {
  rng?: Rng;
}

/** Standard normal samples, times std, plus mean. */
export function randn(shape: Shape, options: RandomOptions & { mean?: number; std?: number } = {}): Tensor {
  const t = zeros(shape, { dtype: options.dtype ?? 'f32', requiresGrad: options.requiresGrad });
  const rng = options.rng ?? globalRng;
  const mean = options.mean ?? 0;
  const std = options.std ?? 1;
  const d = t.dataSync();
  for (let i = 0; i < d.length; i++) d[i] = mean + std * rng.normal();
  return t;
}

/** Uniform samples in [low, high). */
export function rand(shape: Shape, options: RandomOptions & { low?: number; high?: number } = {}): Tensor {
  const t = zeros(shape, { dtype: options.dtype ?? 'f32', requiresGrad: options.requiresGrad });
  const rng = options.rng ?? globalRng;
  const low = options.low ?? 0;
  const span = (options.high ?? 1) - low;
  const d = t.dataSync();
  for (let i = 0; i < d.length; i++) d[i] = low + span * rng.uniform();
  return t;
}

/** Integers start, start+step, ... below end. */
export function arange(start: number, end?: number, step = 1, options: TensorOptions = {}): Tensor {
  const [lo, hi] = end === undefined ? [0, start] : [start, end];
  const n = Math.max(0, Math.ceil((hi - lo) / step));
  const dtype = options.dtype ?? 'f32';
  const data = allocStorage(dtype, n);
  for (let i = 0; i < n; i++) data[i] = lo + i * step;
  return new Tensor(data, [n], dtype);
}

export function zerosLike(t: Tensor): Tensor {
  return zeros(t.shape, { dtype: t.dtype });
}

export function onesLike(t: Tensor): Tensor {
  return ones(t.shape, { dtype: t.dtype });
}

/**
 * A leaf of `shape` that holds no values of its own (one f32 zero seen through zero strides), standing on the tape for
 * a weight kept in another form (a QuantizedTensor's codes): an op records it as an input, and backward leaves the
 * weight's f32 gradient in its `.grad`. Never read its values.
 */
export function gradientSink(shape: Shape): Tensor {
  checkShape(shape);
  return new Tensor(
    new Float32Array(1),
    shape,
    'f32',
    shape.map(() => 0),
    0,
    true,
  );
}
