import { NumericalError } from '../../engine/errors.js';
import { makeReflector, reflectLeft, reflectRight, reflectRows } from './householder.js';

/**
 * The SVD kernel in f64 (Golub-Kahan-Reinsch), the reference for native/svd.cc, which follows it step by step: the
 * tall orientation W (A, or Aᵀ when A is wide) is QR-factorised first when rows >= 1.6·cols (as LAPACK's dgesvd),
 * Householder-bidiagonalised, and diagonalised by implicit-shift
 * bidiagonal QR whose rotations act on singular vectors stored as rows. Matrices are row-major.
 */

/** One decomposition of a: [m, n]: s: [min(m, n)] descending; u: [m, full ? m : k] and vt: [full ? n : k, n], or both null for singular values alone. */
export interface SvdJob {
  a: Float64Array;
  m: number;
  n: number;
  full: boolean;
  s: Float64Array;
  u: Float64Array | null;
  vt: Float64Array | null;
}

/** Householder vectors and taus of a sequence of reflectors: vector j at v[j·stride …]. */
interface Reflectors {
  v: Float64Array;
  stride: number;
  tau: Float64Array;
}

/**
 * x[r0 : r1, c0 : c0+len] ← x·H_{count−1}·…·H_0, H_j acting on columns c0+j … (native: in blocks, as compact WY).
 * With sparseRows, x starts as [I 0], so H_j leaves the rows below j alone.
 */
function reflectRowsAll(
  x: Float64Array,
  ld: number,
  r0: number,
  r1: number,
  c0: number,
  len: number,
  h: Reflectors,
  count: number,
  sparseRows: boolean,
): void {
  for (let j = count - 1; j >= 0; j--) {
    reflectRows(x, ld, sparseRows ? Math.max(r0, j) : r0, r1, c0 + j, len - j, h.v, j * h.stride, h.tau[j]);
  }
}

/** Householder QR of a: [rows, cols] in place (R in the upper triangle); keeps the reflectors in q when given. */
function householderQr(a: Float64Array, rows: number, cols: number, q: Reflectors | null): void {
  const work = new Float64Array(cols);
  for (let j = 0; j < cols; j++) {
    const h = makeReflector(a, j * cols + j, cols, rows - j);
    a[j * cols + j] = h.beta;
    reflectLeft(a, cols, j, j + 1, cols, h, work);
    if (q) {
      q.v.set(h.v, j * q.stride);
      q.tau[j] = h.tau;
    }
  }
}

/**
 * Golub-Kahan bidiagonalisation of a: [rows, cols], rows >= cols (overwritten), into the diagonal d and superdiagonal
 * e, keeping the left (vector k: rows − k entries) and right (cols − k − 1 entries) reflectors when asked. (Native
 * gives each row of the trailing block both updates in one pass; the arithmetic is the same.)
 */
function bidiagonalize(
  a: Float64Array,
  rows: number,
  cols: number,
  d: Float64Array,
  e: Float64Array,
  left: Reflectors | null,
  right: Reflectors | null,
): void {
  const work = new Float64Array(cols);
  for (let k = 0; k < cols; k++) {
    const h = makeReflector(a, k * cols + k, cols, rows - k);
    d[k] = h.beta;
    reflectLeft(a, cols, k, k + 1, cols, h, work);
    if (left) {
      left.v.set(h.v, k * left.stride);
      left.tau[k] = h.tau;
    }
    e[k] = 0;
    if (k === cols - 1) break;
    const g = makeReflector(a, k * cols + k + 1, 1, cols - k - 1);
    e[k] = g.beta;
    reflectRight(a, cols, k + 1, rows, k + 1, g);
    if (right) {
      right.v.set(g.v, k * right.stride);
      right.tau[k] = g.tau;
    }
  }
}

/** Plane rotation of rows i and j of a: [*, len] (a no-op without vectors). */
function rotateRows(a: Float64Array | null, len: number, i: number, j: number, cs: number, sn: number): void {
  if (a === null) return;
  const ri = i * len;
  const rj = j * len;
  for (let c = 0; c < len; c++) {
    const x = a[ri + c];
    const y = a[rj + c];
    a[ri + c] = cs * x + sn * y;
    a[rj + c] = cs * y - sn * x;
  }
}

/** The Givens rotation [cs sn; −sn cs] that takes (f, g) to (r, 0). */
function givens(f: number, g: number): [cs: number, sn: number, r: number] {
  // sqrt(f² + g²) unless the squares over- or underflow; hypot is several times slower.
  const sq = f * f + g * g;
  const r = sq > 1e-290 && sq < 1e290 ? Math.sqrt(sq) : Math.hypot(f, g);
  return r === 0 ? [1, 0, 0] : [f / r, g / r, r];
}

/**
 * Apply the rotations (cs[i], sn[i]) to rows first+i and first+i+1 of a: [*, len], for i = 0 … count−1
 * in order. Four rotations share one pass over the columns (the row between two of them stays in a
 * register), which cuts the memory traffic that dominates this loop.
 */
function applyRotationChain(
  a: Float64Array,
  len: number,
  first: number,
  cs: Float64Array,
  sn: Float64Array,
  count: number,
): void {
  let i = 0;
  for (; i + 4 <= count; i += 4) {
    const [c0, c1, c2, c3] = [cs[i], cs[i + 1], cs[i + 2], cs[i + 3]];
    const [s0, s1, s2, s3] = [sn[i], sn[i + 1], sn[i + 2], sn[i + 3]];
    const row0 = (first + i) * len;
    const row1 = row0 + len;
    const row2 = row1 + len;
    const row3 = row2 + len;
    const row4 = row3 + len;
    for (let c = 0; c < len; c++) {
      let x = a[row0 + c];
      let y = a[row1 + c];
      a[row0 + c] = c0 * x + s0 * y;
      x = c0 * y - s0 * x;
      y = a[row2 + c];
      a[row1 + c] = c1 * x + s1 * y;
      x = c1 * y - s1 * x;
      y = a[row3 + c];
      a[row2 + c] = c2 * x + s2 * y;
      x = c2 * y - s2 * x;
      y = a[row4 + c];
      a[row3 + c] = c3 * x + s3 * y;
      a[row4 + c] = c3 * y - s3 * x;
    }
  }
  for (; i < count; i++) rotateRows(a, len, first + i, first + i + 1, cs[i], sn[i]);
}

/** Scratch for the rotations of one QR sweep: right (columns of B) and left (rows of B). */
interface SweepRotations {
  rightCs: Float64Array;
  rightSn: Float64Array;
  leftCs: Float64Array;
  leftSn: Float64Array;
}

/**
 * One implicit-shift QR sweep over the unreduced block start … p−1 of the bidiagonal (d, e), with the
 * shift from its trailing 2×2; the rotations are then mirrored on the singular-vector rows.
 */
function qrSweep(
  d: Float64Array,
  e: Float64Array,
  start: number,
  p: number,
  left: Float64Array | null,
  leftLen: number,
  right: Float64Array | null,
  rot: SweepRotations,
): void {
  const scale = Math.max(
    Math.abs(d[p - 1]),
    Math.abs(d[p - 2]),
    Math.abs(e[p - 2]),
    Math.abs(d[start]),
    Math.abs(e[start]),
  );
  const sp = d[p - 1] / scale;
  const spm1 = d[p - 2] / scale;
  const epm1 = e[p - 2] / scale;
  const sk = d[start] / scale;
  const ek = e[start] / scale;
  const b = ((spm1 + sp) * (spm1 - sp) + epm1 * epm1) / 2;
  const c = sp * epm1 * (sp * epm1);
  let shift = 0;
  if (b !== 0 || c !== 0) {
    shift = Math.sqrt(b * b + c);
    if (b < 0) shift = -shift;
    shift = c / (b + shift);
  }
  let f = (sk + sp) * (sk - sp) + shift;
  let g = sk * ek;
  // Chase the bulge down the block: a right rotation (columns j, j+1), then a left one (rows j, j+1).
  for (let j = start; j < p - 1; j++) {
    let [cs, sn, r] = givens(f, g);
    if (j !== start) e[j - 1] = r;
    f = cs * d[j] + sn * e[j];
    e[j] = cs * e[j] - sn * d[j];
    g = sn * d[j + 1];
    d[j + 1] = cs * d[j + 1];
    rot.rightCs[j - start] = cs;
    rot.rightSn[j - start] = sn;
    [cs, sn, r] = givens(f, g);
    d[j] = r;
    f = cs * e[j] + sn * d[j + 1];
    d[j + 1] = -sn * e[j] + cs * d[j + 1];
    g = sn * e[j + 1];
    e[j + 1] = cs * e[j + 1];
    rot.leftCs[j - start] = cs;
    rot.leftSn[j - start] = sn;
  }
  e[p - 2] = f;
  if (right) applyRotationChain(right, d.length, start, rot.rightCs, rot.rightSn, p - 1 - start);
  if (left) applyRotationChain(left, leftLen, start, rot.leftCs, rot.leftSn, p - 1 - start);
}

/**
 * Diagonalise the upper-bidiagonal (d, e) by implicit-shift QR with deflation (LINPACK dsvdc, as in
 * JAMA), leaving the singular values in d, non-negative but unsorted. The rotations are applied to
 * the rows of left: [>= n, leftLen] and right: [n, n], which hold the singular vectors as rows.
 */
function bidiagonalQr(
  d: Float64Array,
  e: Float64Array,
  left: Float64Array | null,
  leftLen: number,
  right: Float64Array | null,
): void {
  const n = d.length;
  const eps = 2 ** -52;
  const tiny = 2 ** -966;
  const maxSweeps = 75 * n;
  let sweeps = 0;
  const rot: SweepRotations = {
    rightCs: new Float64Array(n),
    rightSn: new Float64Array(n),
    leftCs: new Float64Array(n),
    leftSn: new Float64Array(n),
  };
  let p = n;
  while (p > 0) {
    // The largest k < p−1 with a negligible e[k], or −1.
    let k = p - 2;
    for (; k >= 0; k--) {
      if (Math.abs(e[k]) <= tiny + eps * (Math.abs(d[k]) + Math.abs(d[k + 1]))) {
        e[k] = 0;
        break;
      }
    }
    if (k === p - 2) {
      // d[p−1] is decoupled: it has converged.
      if (d[p - 1] < 0) {
        d[p - 1] = -d[p - 1];
        if (right) for (let c = (p - 1) * n; c < p * n; c++) right[c] = -right[c];
      }
      p--;
      continue;
    }
    // The unreduced block is k+1 … p−1; look for a negligible diagonal entry in it.
    const start = k + 1;
    let ks = p - 1;
    for (; ks >= start; ks--) {
      const t = (ks !== p - 1 ? Math.abs(e[ks]) : 0) + (ks !== start ? Math.abs(e[ks - 1]) : 0);
      if (Math.abs(d[ks]) <= tiny + eps * t) {
        d[ks] = 0;
        break;
      }
    }
    if (ks < start) {
      if (++sweeps > maxSweeps) throw new NumericalError(`svd: no convergence after ${maxSweeps} QR sweeps`);
      qrSweep(d, e, start, p, left, leftLen, right, rot);
    } else if (ks === p - 1) {
      // d[p−1] is zero: chase e[p−2] up and out of the block with right rotations.
      let f = e[p - 2];
      e[p - 2] = 0;
      for (let j = p - 2; j >= start; j--) {
        const [cs, sn, r] = givens(d[j], f);
        d[j] = r;
        if (j !== start) {
          f = -sn * e[j - 1];
          e[j - 1] = cs * e[j - 1];
        }
        rotateRows(right, n, j, p - 1, cs, sn);
      }
    } else {
      // d[ks] is zero: split the block there by chasing e[ks] down with left rotations.
      let f = e[ks];
      e[ks] = 0;
      for (let j = ks + 1; j < p; j++) {
        const [cs, sn, r] = givens(d[j], f);
        d[j] = r;
        f = -sn * e[j];
        e[j] = cs * e[j];
        rotateRows(left, leftLen, j, ks, cs, sn);
      }
    }
  }
}

/** rowsᵀ of src: [rows, cols] into dst: [cols, rows]. */
function transposeInto(src: Float64Array, rows: number, cols: number, dst: Float64Array): void {
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) dst[j * rows + i] = src[i * cols + j];
  }
}

/** One job (see SvdJob); throws NumericalError when the QR iteration does not converge. */
function svdOne(job: SvdJob): void {
  const wide = job.m < job.n;
  const [rows, cols] = wide ? [job.n, job.m] : [job.m, job.n];
  const w = new Float64Array(rows * cols);
  if (wide) transposeInto(job.a.subarray(0, job.m * job.n), job.m, job.n, w);
  else w.set(job.a.subarray(0, rows * cols));
  if (cols === 0) return;
  const vectors = job.u !== null && job.vt !== null;
  // QR first when W is much taller than wide: the bidiagonalisation (and the left rotations) then work on R.
  const qrFirst = rows * 10 >= cols * 16;
  const q: Reflectors | null =
    qrFirst && vectors ? { v: new Float64Array(rows * cols), stride: rows, tau: new Float64Array(cols) } : null;
  let b = w;
  let bRows = rows;
  if (qrFirst) {
    householderQr(w, rows, cols, q);
    b = new Float64Array(cols * cols);
    for (let i = 0; i < cols; i++) b.set(w.subarray(i * cols + i, i * cols + cols), i * cols + i);
    bRows = cols;
  }
  const k = cols;
  const d = new Float64Array(k);
  const e = new Float64Array(k);
  const lefts: Reflectors | null = vectors
    ? { v: new Float64Array(bRows * k), stride: bRows, tau: new Float64Array(k) }
    : null;
  const rights: Reflectors | null = vectors
    ? { v: new Float64Array(k * k), stride: k, tau: new Float64Array(k) }
    : null;
  bidiagonalize(b, bRows, cols, d, e, lefts, rights);
  if (!(vectors && lefts && rights && job.u && job.vt)) {
    bidiagonalQr(d, e, null, 0, null);
    job.s.set(d.sort().reverse());
    return;
  }
  const uCols = job.full ? rows : cols;
  // The bidiagonalised matrix's left vectors as rows, [I 0]·H_{k−1}·…·H_0: with QR first only its k rows (U_Rᵀ).
  const leftRows = qrFirst ? k : uCols;
  const left = new Float64Array(leftRows * bRows);
  for (let i = 0; i < leftRows; i++) left[i * bRows + i] = 1;
  reflectRowsAll(left, bRows, 0, leftRows, 0, bRows, lefts, k, true);
  const right = new Float64Array(k * k);
  for (let i = 0; i < k; i++) right[i * k + i] = 1;
  // Right reflector j acts on columns j+1 …: reflector j of the block from column 1.
  if (k > 1) reflectRowsAll(right, k, 1, k, 1, k - 1, rights, k - 1, false);
  bidiagonalQr(d, e, left, bRows, right);
  const order = Array.from(d.keys()).sort((i, j) => d[j] - d[i] || i - j);
  order.forEach((from, to) => {
    job.s[to] = d[from];
  });
  // Sorted left rows, [uCols, rows]; with QR first [U_Rᵀ 0; 0 I]·Qᵀ.
  const sortedLeft = new Float64Array(uCols * rows);
  order.forEach((from, to) => {
    sortedLeft.set(left.subarray(from * bRows, from * bRows + bRows), to * rows);
  });
  for (let i = k; i < uCols; i++) {
    if (qrFirst) sortedLeft[i * rows + i] = 1;
    else sortedLeft.set(left.subarray(i * bRows, i * bRows + bRows), i * rows);
  }
  if (q) reflectRowsAll(sortedLeft, rows, 0, uCols, 0, rows, q, k, false);
  const sortedRight = new Float64Array(k * k);
  order.forEach((from, to) => {
    sortedRight.set(right.subarray(from * k, from * k + k), to * k);
  });
  // Tall: u = sortedLeftᵀ, vt = sortedRight. Wide (A = Wᵀ): u = sortedRightᵀ, vt = sortedLeft.
  if (wide) {
    transposeInto(sortedRight, k, k, job.u);
    job.vt.set(sortedLeft);
  } else {
    transposeInto(sortedLeft, uCols, rows, job.u);
    job.vt.set(sortedRight);
  }
}

/**
 * Every job's decomposition, in order; returns the index of the first job whose QR iteration did not converge, or −1
 * (the jobs after it are still computed, as the native kernel computes them all).
 */
export function svdBatchTs(jobs: readonly SvdJob[]): number {
  let failed = -1;
  jobs.forEach((job, i) => {
    try {
      svdOne(job);
    } catch (error) {
      if (!(error instanceof NumericalError)) throw error;
      if (failed < 0) failed = i;
    }
  });
  return failed;
}
