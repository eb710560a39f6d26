import { DTypeError } from './errors.js';

/** Storage dtypes. Arithmetic runs in f32 (or f64 for gradient checks and precise linear algebra). */
export type DType = 'f32' | 'f64' | 'f16' | 'bf16' | 'i8' | 'u8' | 'i32' | 'bool';
export type FloatDType = 'f32' | 'f64';

export type Storage = Float32Array | Float64Array | Uint16Array | Int8Array | Uint8Array | Int32Array;
export type FloatArray = Float32Array | Float64Array;

export const DTYPES: readonly DType[] = ['f32', 'f64', 'f16', 'bf16', 'i8', 'u8', 'i32', 'bool'];

export function itemSize(dtype: DType): number {
  switch (dtype) {
    case 'f64':
      return 8;
    case 'f32':
    case 'i32':
      return 4;
    case 'f16':
    case 'bf16':
      return 2;
    default:
      return 1;
  }
}

export function allocStorage(dtype: DType, n: number): Storage {
  switch (dtype) {
    case 'f32':
      return new Float32Array(n);
    case 'f64':
      return new Float64Array(n);
    case 'f16':
    case 'bf16':
      return new Uint16Array(n);
    case 'i8':
      return new Int8Array(n);
    case 'u8':
    case 'bool':
      return new Uint8Array(n);
    case 'i32':
      return new Int32Array(n);
    default:
      throw new DTypeError(`unknown dtype '${String(dtype)}'`);
  }
}

/**
 * Storage whose contents are unspecified, for outputs a kernel overwrites completely: large float
 * buffers skip the zeroing (Node's uninitialised Buffer memory); elsewhere this is allocStorage.
 */
export function allocUninit(dtype: DType, n: number): Storage {
  if ((dtype === 'f32' || dtype === 'f64') && n >= 16384 && typeof Buffer !== 'undefined') {
    const bytes = Buffer.allocUnsafeSlow(n * itemSize(dtype));
    return dtype === 'f32'
      ? new Float32Array(bytes.buffer, bytes.byteOffset, n)
      : new Float64Array(bytes.buffer, bytes.byteOffset, n);
  }
  return allocStorage(dtype, n);
}

export function isFloatCompute(dtype: DType): dtype is FloatDType {
  return dtype === 'f32' || dtype === 'f64';
}

// Shared scratch for reinterpreting f32 bits.
const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** f32 -> bf16 bits, round to nearest even; NaN stays a quiet NaN. */
export function f32ToBf16Bits(x: number): number {
  f32Scratch[0] = x;
  const bits = u32Scratch[0];
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x007fffff) !== 0) return ((bits >>> 16) | 0x0040) & 0xffff;
  const rounded = bits + 0x7fff + ((bits >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

/** bf16 bits -> f32 value, exact. */
export function bf16BitsToF32(h: number): number {
  u32Scratch[0] = (h & 0xffff) << 16;
  return f32Scratch[0];
}

/** f32 -> IEEE half bits, round to nearest even, with subnormals, overflow to Inf, NaN kept. */
export function f32ToF16Bits(x: number): number {
  f32Scratch[0] = x;
  const bits = u32Scratch[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x007fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x0200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): shift the full mantissa, with its implicit bit, into place.
    if (e < -10) return sign;
    const full = mant | 0x00800000;
    const shift = 14 - e;
    const half = full >>> shift;
    const rem = full & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    const up = rem > mid || (rem === mid && (half & 1) === 1) ? 1 : 0;
    return sign | (half + up);
  }
  const half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  const up = rem > 0x1000 || (rem === 0x1000 && (half & 1) === 1) ? 1 : 0;
  // A carry out of the mantissa correctly bumps the exponent, up to Inf.
  return sign | (half + up);
}

/** IEEE half bits -> f32 value, exact. */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Read element i of a storage array as a JS number, decoding half formats. */
export function readElement(dtype: DType, data: Storage, i: number): number {
  if (dtype === 'bf16') return bf16BitsToF32(data[i]);
  if (dtype === 'f16') return f16BitsToF32(data[i]);
  return data[i];
}

/** Encode a JS number for storage in the given dtype. Integers truncate toward zero and saturate. */
export function encodeElement(dtype: DType, x: number): number {
  switch (dtype) {
    case 'bf16':
      return f32ToBf16Bits(x);
    case 'f16':
      return f32ToF16Bits(x);
    case 'bool':
      return x !== 0 ? 1 : 0;
    case 'i8':
      return Math.max(-128, Math.min(127, Math.trunc(x)));
    case 'u8':
      return Math.max(0, Math.min(255, Math.trunc(x)));
    case 'i32':
      return Math.max(-2147483648, Math.min(2147483647, Math.trunc(x)));
    default:
      return x;
  }
}

/**
 * bf16 is the high half of a little-endian f32: copy it into the odd u16 slots (the even ones stay 0).
 * Working in u16 keeps every value a small integer, which V8 handles without boxing.
 */
function bf16ToF32Halves(src: Uint16Array, dst: Uint16Array): void {
  for (let i = 0; i < src.length; i++) dst[2 * i + 1] = src[i];
}

/** Convert a whole storage array between dtypes. */
export function convertStorage(src: Storage, from: DType, to: DType): Storage {
  const n = src.length;
  const out = allocStorage(to, n);
  if (from === to) {
    out.set(src as never);
    return out;
  }
  if (from === 'bf16' && to === 'f32') {
    bf16ToF32Halves(src as Uint16Array, new Uint16Array(out.buffer, out.byteOffset, 2 * n));
  } else if (to === 'bf16') {
    for (let i = 0; i < n; i++) out[i] = f32ToBf16Bits(readElement(from, src, i));
  } else if (to === 'f16') {
    for (let i = 0; i < n; i++) out[i] = f32ToF16Bits(readElement(from, src, i));
  } else if (to === 'f32' || to === 'f64') {
    for (let i = 0; i < n; i++) out[i] = readElement(from, src, i);
  } else {
    for (let i = 0; i < n; i++) out[i] = encodeElement(to, readElement(from, src, i));
  }
  return out;
}

/** The dtype of a float array. */
export function floatArrayDType(a: FloatArray): FloatDType {
  return a instanceof Float64Array ? 'f64' : 'f32';
}
