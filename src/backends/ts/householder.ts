/**
 * Householder reflectors H = I − τ·v·vᵀ (v[0] = 1), the building block of QR and of the
 * bidiagonalisation inside the SVD (backends/ts/svd.ts). Matrices are row-major Float64Arrays with leading dimension ld.
 */
export interface Reflector {
  v: Float64Array;
  tau: number;
  /** The value H maps x[0] to; every other entry of H·x is zero. */
  beta: number;
}

/** The reflector that zeroes x[1:], for x read from data at offset with the given stride (LAPACK dlarfg). */
export function makeReflector(data: Float64Array, offset: number, stride: number, len: number): Reflector {
  const alpha = data[offset];
  let tailSq = 0;
  for (let i = 1; i < len; i++) {
    const x = data[offset + i * stride];
    tailSq += x * x;
  }
  const v = new Float64Array(len);
  v[0] = 1;
  if (tailSq === 0) return { v, tau: 0, beta: alpha };
  // beta takes the sign opposite to alpha so that alpha − beta never cancels.
  const norm = Math.sqrt(alpha * alpha + tailSq);
  const beta = alpha >= 0 ? -norm : norm;
  const scale = 1 / (alpha - beta);
  for (let i = 1; i < len; i++) v[i] = data[offset + i * stride] * scale;
  return { v, tau: (beta - alpha) / beta, beta };
}

/**
 * a[r0 : r0+len, c0 : c1] ← H · a[r0 : r0+len, c0 : c1], with len = h.v.length.
 * work: scratch of length >= c1.
 */
export function reflectLeft(
  a: Float64Array,
  ld: number,
  r0: number,
  c0: number,
  c1: number,
  h: Reflector,
  work: Float64Array,
): void {
  const { v, tau } = h;
  if (tau === 0 || c1 <= c0) return;
  const len = v.length;
  // w = vᵀ·A, accumulated four rows at a time so every inner loop is contiguous and w is touched less.
  work.fill(0, c0, c1);
  let i = 0;
  for (; i + 4 <= len; i += 4) {
    const v0 = v[i];
    const v1 = v[i + 1];
    const v2 = v[i + 2];
    const v3 = v[i + 3];
    const row0 = (r0 + i) * ld;
    const row1 = row0 + ld;
    const row2 = row1 + ld;
    const row3 = row2 + ld;
    for (let j = c0; j < c1; j++) work[j] += v0 * a[row0 + j] + v1 * a[row1 + j] + v2 * a[row2 + j] + v3 * a[row3 + j];
  }
  for (; i < len; i++) {
    const vi = v[i];
    const row = (r0 + i) * ld;
    for (let j = c0; j < c1; j++) work[j] += vi * a[row + j];
  }
  // A −= (τ·v)·wᵀ, two rows at a time.
  i = 0;
  for (; i + 2 <= len; i += 2) {
    const f0 = tau * v[i];
    const f1 = tau * v[i + 1];
    const row0 = (r0 + i) * ld;
    const row1 = row0 + ld;
    for (let j = c0; j < c1; j++) {
      const wj = work[j];
      a[row0 + j] -= f0 * wj;
      a[row1 + j] -= f1 * wj;
    }
  }
  if (i < len) {
    const f = tau * v[i];
    const row = (r0 + i) * ld;
    for (let j = c0; j < c1; j++) a[row + j] -= f * work[j];
  }
}

/** Rows r0 … r1−1 of x (columns c0 … c0+len−1) ← x·H for H = I − tau·v·vᵀ, v = vs[vOffset …]. */
export function reflectRows(
  x: Float64Array,
  ld: number,
  r0: number,
  r1: number,
  c0: number,
  len: number,
  vs: Float64Array,
  vOffset: number,
  tau: number,
): void {
  if (tau === 0) return;
  // Two rows at a time share the loads of v.
  let i = r0;
  for (; i + 2 <= r1; i += 2) {
    const row0 = i * ld + c0;
    const row1 = row0 + ld;
    let s0 = 0;
    let s1 = 0;
    for (let j = 0; j < len; j++) {
      const vj = vs[vOffset + j];
      s0 += x[row0 + j] * vj;
      s1 += x[row1 + j] * vj;
    }
    s0 *= tau;
    s1 *= tau;
    for (let j = 0; j < len; j++) {
      const vj = vs[vOffset + j];
      x[row0 + j] -= s0 * vj;
      x[row1 + j] -= s1 * vj;
    }
  }
  if (i < r1) {
    const row = i * ld + c0;
    let s = 0;
    for (let j = 0; j < len; j++) s += x[row + j] * vs[vOffset + j];
    s *= tau;
    for (let j = 0; j < len; j++) x[row + j] -= s * vs[vOffset + j];
  }
}

/** a[r0 : r1, c0 : c0+len] ← a[r0 : r1, c0 : c0+len] · H, with len = h.v.length. */
export function reflectRight(a: Float64Array, ld: number, r0: number, r1: number, c0: number, h: Reflector): void {
  reflectRows(a, ld, r0, r1, c0, h.v.length, h.v, 0, h.tau);
}
