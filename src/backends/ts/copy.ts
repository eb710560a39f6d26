import type { Storage } from '../../engine/dtype.js';
import { numel } from '../../engine/shape.js';
import type { StridedOperand } from './elementwise.js';

/**
 * Gather a strided view into a fresh contiguous array of the same kind.
 * The innermost axis is walked with its own stride; outer axes use an odometer.
 */
export function copyStrided<T extends Storage>(
  src: T,
  shape: readonly number[],
  strides: readonly number[],
  offset: number,
  out?: T,
): T {
  let n = 1;
  for (const d of shape) n *= d;
  const dst = out ?? new (src.constructor as new (len: number) => T)(n);
  if (n === 0) return dst;
  const rank = shape.length;
  if (rank === 0) {
    dst[0] = src[offset];
    return dst;
  }
  const inner = shape[rank - 1];
  const innerStride = strides[rank - 1];
  const idx = new Array<number>(rank - 1).fill(0);
  let base = offset;
  let o = 0;
  for (;;) {
    if (innerStride === 1) {
      dst.set(src.subarray(base, base + inner) as never, o);
      o += inner;
    } else {
      for (let i = 0, p = base; i < inner; i++, p += innerStride) dst[o++] = src[p];
    }
    let ax = rank - 2;
    while (ax >= 0) {
      idx[ax]++;
      base += strides[ax];
      if (idx[ax] < shape[ax]) break;
      base -= strides[ax] * shape[ax];
      idx[ax] = 0;
      ax--;
    }
    if (ax < 0) break;
  }
  return dst;
}

/** Write src (logical row-major order) into the strided view dst of the given shape, in place. */
export function writeStridedTs(dst: StridedOperand, shape: readonly number[], src: Storage): void {
  const rank = shape.length;
  const out = dst.data;
  if (numel(shape) === 0) return;
  if (rank === 0) {
    out[dst.offset] = src[0];
    return;
  }
  const idx = new Array<number>(rank).fill(0);
  let p = dst.offset;
  for (let o = 0; o < src.length; o++) {
    out[p] = src[o];
    let ax = rank - 1;
    while (ax >= 0) {
      idx[ax]++;
      p += dst.strides[ax];
      if (idx[ax] < shape[ax]) break;
      p -= dst.strides[ax] * shape[ax];
      idx[ax] = 0;
      ax--;
    }
  }
}
