import type { FloatArray, Storage } from '../../engine/dtype.js';

// Reference kernels for indexing, joining and sorting, on flat typed arrays. Indices are trusted:
// the ops check them before calling in.

/** Rows shorter than this are copied element by element: a subarray per row costs more. */
const BLOCK_COPY_MIN = 32;

/** out[o, j, :] = src[o, index[j], :], with src viewed as contiguous [outer, dim, inner] (any dtype). */
export function indexSelectTs(
  src: Storage,
  outer: number,
  dim: number,
  inner: number,
  index: Int32Array,
  out: Storage,
): void {
  const n = index.length;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < n; j++) {
      const from = (o * dim + index[j]) * inner;
      const to = (o * n + j) * inner;
      if (inner >= BLOCK_COPY_MIN) out.set(src.subarray(from, from + inner) as never, to);
      else for (let c = 0; c < inner; c++) out[to + c] = src[from + c];
    }
  }
}

/** dst[o, index[j], :] += src[o, j, :], with dst contiguous [outer, dim, inner] and src [outer, index.length, inner]. */
export function indexAddTs(
  dst: FloatArray,
  outer: number,
  dim: number,
  inner: number,
  index: Int32Array,
  src: FloatArray,
): void {
  const n = index.length;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < n; j++) {
      const to = (o * dim + index[j]) * inner;
      const from = (o * n + j) * inner;
      for (let c = 0; c < inner; c++) dst[to + c] += src[from + c];
    }
  }
}

/**
 * Visit each innermost row of a tensor of `shape` (rank >= 1) in row-major order, passing the
 * row-major position of the row's first element and the storage position, in a tensor of
 * (strides, offset), of the element with the same coordinates except 0 on `axis`.
 */
function forEachRow(
  shape: readonly number[],
  strides: readonly number[],
  offset: number,
  axis: number,
  visit: (first: number, base: number) => void,
): void {
  const rank = shape.length;
  const len = shape[rank - 1];
  let rows = 1;
  for (let ax = 0; ax < rank - 1; ax++) rows *= shape[ax];
  if (len === 0) return;
  const idx = new Array<number>(rank).fill(0);
  let p = offset;
  for (let r = 0; r < rows; r++) {
    visit(r * len, p);
    for (let ax = rank - 2; ax >= 0; ax--) {
      const step = ax === axis ? 0 : strides[ax];
      idx[ax]++;
      p += step;
      if (idx[ax] < shape[ax]) break;
      p -= step * shape[ax];
      idx[ax] = 0;
    }
  }
}

/**
 * torch.gather: out[i] = src[i with its coordinate on `axis` replaced by index[i]], where i runs
 * over indexShape; src is strided, index and out are contiguous.
 */
export function gatherTs(
  src: Storage,
  srcStrides: readonly number[],
  srcOffset: number,
  axis: number,
  index: Int32Array,
  indexShape: readonly number[],
  out: Storage,
): void {
  const last = indexShape.length - 1;
  const len = indexShape[last];
  const step = axis === last ? 0 : srcStrides[last];
  const axisStep = srcStrides[axis];
  forEachRow(indexShape, srcStrides, srcOffset, axis, (first, base) => {
    for (let c = 0, q = base; c < len; c++, q += step) out[first + c] = src[q + index[first + c] * axisStep];
  });
}

/**
 * torch.scatter_add_: dst[i with its coordinate on `axis` replaced by index[i]] += src[i], where i
 * runs over indexShape; dst is strided, index and src are contiguous.
 */
export function scatterAddTs(
  dst: FloatArray,
  dstStrides: readonly number[],
  axis: number,
  index: Int32Array,
  indexShape: readonly number[],
  src: FloatArray,
): void {
  const last = indexShape.length - 1;
  const len = indexShape[last];
  const step = axis === last ? 0 : dstStrides[last];
  const axisStep = dstStrides[axis];
  forEachRow(indexShape, dstStrides, 0, axis, (first, base) => {
    for (let c = 0, q = base; c < len; c++, q += step) dst[q + index[first + c] * axisStep] += src[first + c];
  });
}

/**
 * Concatenate contiguous parts viewed as [outer, sizes[p], inner] along the middle axis.
 * When out's kind differs from a part's, TypedArray.set converts (f32 <-> f64).
 */
export function concatTs(
  parts: readonly Storage[],
  sizes: readonly number[],
  outer: number,
  inner: number,
  out: Storage,
): void {
  let total = 0;
  for (const s of sizes) total += s;
  for (let o = 0; o < outer; o++) {
    let to = o * total * inner;
    parts.forEach((part, p) => {
      const len = sizes[p] * inner;
      out.set(part.subarray(o * len, (o + 1) * len) as never, to);
      to += len;
    });
  }
}

// ---- Sorting ----------------------------------------------------------------------------------
// Each row is turned into unsigned integer keys whose ascending order is the wanted order, then
// sorted by an LSD radix sort (stable, O(n)) or, for top-k with small k, selected with a heap.

const RADIX_BITS = 11;
const RADIX_MASK = (1 << RADIX_BITS) - 1;
/** Rows up to this length are insertion-sorted: every radix pass clears 2^RADIX_BITS counters. */
const INSERTION_MAX = 48;
/** topk selects with a heap when k * HEAP_RATIO <= n, else sorts the whole row. */
const HEAP_RATIO = 32;

// Scratch shared by every row and call (kernels are synchronous); grown on demand.
let hiKeys = new Int32Array(0);
let loKeys = new Int32Array(0);
let order = new Int32Array(0);
let orderTmp = new Int32Array(0);
const counts = new Uint32Array(1 << RADIX_BITS);

function ensureScratch(n: number): void {
  if (hiKeys.length >= n) return;
  hiKeys = new Int32Array(n);
  loKeys = new Int32Array(n);
  order = new Int32Array(n);
  orderTmp = new Int32Array(n);
}

/** Which 32-bit half of an f64 holds the sign and exponent (1 on little-endian machines). */
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;

/** x's storage read as 32-bit words (two per f64 element), signed so that reads stay small integers. */
function wordsOf(x: FloatArray): Int32Array {
  return new Int32Array(x.buffer, x.byteOffset, x.byteLength >> 2);
}

/**
 * Keys for one row (n elements, `stride` apart from `base`) into hiKeys/loKeys, as 32-bit patterns
 * whose unsigned order is torch's: NaN above +Inf, -0 equal to +0. Negative floats get every bit
 * flipped (larger magnitudes sort lower), the others the sign bit set, without branching on the
 * sign (random signs would defeat branch prediction). `descending` then flips every bit, which
 * reverses the order but keeps ties tied. f64 values use both words; f32 values leave loKeys 0.
 */
function loadKeys(x: FloatArray, base: number, stride: number, n: number, descending: boolean): void {
  const flip = descending ? -1 : 0;
  const bits = wordsOf(x);
  const hiOut = hiKeys;
  const loOut = loKeys;
  if (x instanceof Float64Array) {
    for (let j = 0, p = 2 * base; j < n; j++, p += 2 * stride) {
      let hi = bits[p + HI];
      let lo = bits[p + 1 - HI];
      const mag = hi & 0x7fffffff;
      if (mag > 0x7ff00000 || (mag === 0x7ff00000 && lo !== 0)) {
        hi = 0x7fffffff; // every NaN becomes the largest positive pattern
        lo = -1;
      } else if (hi === -0x80000000 && lo === 0) {
        hi = 0; // -0 becomes +0
      }
      const negative = hi >> 31;
      hiOut[j] = hi ^ (negative | 0x80000000) ^ flip;
      loOut[j] = lo ^ negative ^ flip;
    }
    return;
  }
  for (let j = 0, p = base; j < n; j++, p += stride) {
    let w = bits[p];
    if ((w & 0x7fffffff) > 0x7f800000) w = 0x7fffffff;
    else if (w === -0x80000000) w = 0;
    hiOut[j] = w ^ ((w >> 31) | 0x80000000) ^ flip;
    loOut[j] = 0;
  }
}

/** True when position a comes after position b: a larger key (unsigned), or an equal key and a later position. */
function after(a: number, b: number): boolean {
  // Flipping the sign bit turns an unsigned comparison into a signed one.
  const ha = hiKeys[a] ^ 0x80000000;
  const hb = hiKeys[b] ^ 0x80000000;
  if (ha !== hb) return ha > hb;
  const la = loKeys[a] ^ 0x80000000;
  const lb = loKeys[b] ^ 0x80000000;
  return la !== lb ? la > lb : a > b;
}

/** Positions 0..n-1 stably sorted by the loaded keys; returns the scratch array holding them. */
function sortKeys(n: number, wide: boolean): Int32Array {
  for (let j = 0; j < n; j++) order[j] = j;
  if (n <= INSERTION_MAX) {
    for (let i = 1; i < n; i++) {
      const p = order[i];
      let j = i - 1;
      for (; j >= 0 && after(order[j], p); j--) order[j + 1] = order[j];
      order[j + 1] = p;
    }
    return order;
  }
  let src = order;
  let dst = orderTmp;
  // Least significant digit first: the low word (f64 only), then the high word.
  for (const words of wide ? [loKeys, hiKeys] : [hiKeys]) {
    for (let shift = 0; shift < 32; shift += RADIX_BITS) {
      counts.fill(0);
      for (let j = 0; j < n; j++) counts[(words[src[j]] >>> shift) & RADIX_MASK]++;
      // A digit shared by the whole row leaves the order unchanged.
      if (counts[(words[src[0]] >>> shift) & RADIX_MASK] === n) continue;
      let sum = 0;
      for (let d = 0; d <= RADIX_MASK; d++) {
        const c = counts[d];
        counts[d] = sum;
        sum += c;
      }
      for (let j = 0; j < n; j++) {
        const p = src[j];
        dst[counts[(words[p] >>> shift) & RADIX_MASK]++] = p;
      }
      const t = src;
      src = dst;
      dst = t;
    }
  }
  return src;
}

function siftDown(heap: Int32Array, size: number): void {
  let i = 0;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= size) return;
    const r = l + 1;
    const c = r < size && after(heap[r], heap[l]) ? r : l;
    if (!after(heap[c], heap[i])) return;
    const t = heap[i];
    heap[i] = heap[c];
    heap[c] = t;
    i = c;
  }
}

/** The first k positions in key order (ties: lowest position first), via a max-heap of the best k so far. */
function selectKeys(n: number, k: number): Int32Array {
  const heap = orderTmp;
  let size = 0;
  for (let j = 0; j < n && size < k; j++) {
    heap[size] = j;
    for (let c = size++; c > 0; ) {
      const parent = (c - 1) >> 1;
      if (!after(heap[c], heap[parent])) break;
      const t = heap[c];
      heap[c] = heap[parent];
      heap[parent] = t;
      c = parent;
    }
  }
  // The root is the worst kept; a later position must beat it strictly to get in.
  for (let j = k; j < n; j++) {
    if (after(heap[0], j)) {
      heap[0] = j;
      siftDown(heap, size);
    }
  }
  for (let i = size - 1; i >= 0; i--) {
    order[i] = heap[0];
    heap[0] = heap[i];
    siftDown(heap, i);
  }
  return order;
}

/**
 * Stable argsort along the middle axis of contiguous x viewed as [outer, n, inner]: indices has x's
 * layout and holds positions along the axis.
 */
export function sortTs(
  x: FloatArray,
  outer: number,
  n: number,
  inner: number,
  descending: boolean,
  indices: Int32Array,
): void {
  ensureScratch(n);
  const wide = x instanceof Float64Array;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * n * inner + i;
      loadKeys(x, base, inner, n, descending);
      const sorted = sortKeys(n, wide);
      for (let j = 0, q = base; j < n; j++, q += inner) indices[q] = sorted[j];
    }
  }
}

/**
 * Positions of the k largest (or smallest) along the middle axis of x viewed as [outer, n, inner],
 * into indices [outer, k, inner]. Ties go to the lowest position; NaN counts as the largest value.
 * `sorted` orders the k best first, otherwise they come in position order.
 */
export function topkTs(
  x: FloatArray,
  outer: number,
  n: number,
  inner: number,
  k: number,
  largest: boolean,
  sorted: boolean,
  indices: Int32Array,
): void {
  if (k === 0) return;
  ensureScratch(n);
  const wide = x instanceof Float64Array;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * n * inner + i;
      loadKeys(x, base, inner, n, largest);
      const best = k * HEAP_RATIO <= n ? selectKeys(n, k) : sortKeys(n, wide);
      if (!sorted) best.subarray(0, k).sort();
      for (let j = 0, q = o * k * inner + i; j < k; j++, q += inner) indices[q] = best[j];
    }
  }
}
