import { NumericalError } from '../engine/errors.js';
import type { Tensor } from '../engine/tensor.js';
import { makeReflector, type Reflector, reflectLeft, reflectRight } from './householder.js';
import { assertFinite, eye64, type OutputOptions, outputDType, readMatrix, toTensor, transpose64 } from './matrix.js';

export interface SvdOptions extends OutputOptions {
  /** u: [m, m] and vt: [n, n] instead of the thin u: [m, k], vt: [k, n] (k = min(m, n)). */
  fullMatrices?: boolean;
}

/** A = u · diag(s) · vt, with s descending and non-negative. */
export interface SvdResult<T> {
  u: T;
  s: T;
  vt: T;
}

interface Bidiagonal {
  /** Diagonal, [n]. */
  d: Float64Array;
  /** Superdiagonal, [n]; e[n−1] is 0. */
  e: Float64Array;
  /** Left reflectors H_k acting on rows k.., one per column. */
  lefts: Reflector[];
  /** Right reflectors G_k acting on columns k+1.., one per row but the last. */
  rights: Reflector[];
}

/** Golub-Kahan bidiagonalisation w = (H_0…H_{n−1}) · B · (G_0…G_{n−2})ᵀ of w: [m, n], m >= n; overwrites w. */
function bidiagonalize(w: Float64Array, m: number, n: number): Bidiagonal {
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  const lefts: Reflector[] = [];
  const rights: Reflector[] = [];
  const work = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const left = makeReflector(w, k * n + k, n, m - k);
    d[k] = left.beta;
    lefts.push(left);
    reflectLeft(w, n, k, k + 1, n, left, work);
    if (k < n - 1) {
      const right = makeReflector(w, k * n + k + 1, 1, n - k - 1);
      e[k] = right.beta;
      rights.push(right);
      reflectRight(w, n, k + 1, m, k + 1, right);
    }
  }
  return { d, e, lefts, rights };
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
  const r = Math.hypot(f, g);
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

/** Indices of d sorted by descending value (stable). */
function descendingOrder(d: Float64Array): number[] {
  return Array.from(d.keys()).sort((i, j) => d[j] - d[i] || i - j);
}

/** Rows of a: [rows, len] reordered so that row i is a[order[i]] for i < order.length; the rest stay. */
function permuteRows(a: Float64Array, len: number, order: number[]): Float64Array {
  const out = a.slice();
  order.forEach((from, to) => {
    out.set(a.subarray(from * len, from * len + len), to * len);
  });
  return out;
}

/** Singular values of a: [m, n] (f64, descending), without forming singular vectors. */
export function singularValues64(a: Float64Array, m: number, n: number): Float64Array {
  assertFinite(a, 'singularValues');
  // Work on the tall orientation: the bidiagonal then has min(m, n) entries.
  const [rows, cols, w] = m >= n ? [m, n, a.slice()] : [n, m, transpose64(a, m, n)];
  const { d, e } = bidiagonalize(w, rows, cols);
  bidiagonalQr(d, e, null, 0, null);
  return d.sort().reverse();
}

/** Full SVD of a: [m, n] in f64; see svd for the shapes. */
export function svd64(a: Float64Array, m: number, n: number, full: boolean): SvdResult<Float64Array> {
  assertFinite(a, 'svd');
  // Decompose the tall orientation W = U'·S·V'ᵀ (rows >= cols); for a wide A = Wᵀ, u = V' and vt = U'ᵀ.
  const wide = m < n;
  const [rows, cols, w] = wide ? [n, m, transpose64(a, m, n)] : [m, n, a.slice()];
  const { d, e, lefts, rights } = bidiagonalize(w, rows, cols);
  const uCols = full ? rows : cols;
  const work = new Float64Array(rows);
  // U' = H_0·…·H_{cols−1}·I and V' = G_0·…·G_{cols−2}·I, accumulated right to left.
  const u = eye64(rows, uCols);
  for (let k = cols - 1; k >= 0; k--) reflectLeft(u, uCols, k, k, uCols, lefts[k], work);
  const v = eye64(cols, cols);
  for (let k = rights.length - 1; k >= 0; k--) reflectLeft(v, cols, k + 1, k + 1, cols, rights[k], work);
  // Singular vectors as rows, so that the QR rotations run along contiguous memory.
  const leftRows = transpose64(u, rows, uCols); // [uCols, rows]
  const rightRows = transpose64(v, cols, cols); // [cols, cols]
  bidiagonalQr(d, e, leftRows, rows, rightRows);
  const order = descendingOrder(d);
  const s = Float64Array.from(order, (i) => d[i]);
  const leftSorted = permuteRows(leftRows, rows, order);
  const rightSorted = permuteRows(rightRows, cols, order);
  return wide
    ? { u: transpose64(rightSorted, cols, cols), s, vt: leftSorted }
    : { u: transpose64(leftSorted, uCols, rows), s, vt: rightSorted };
}

/**
 * Singular value decomposition A = u · diag(s) · vt of a: [m, n], computed in f64 by Householder
 * bidiagonalisation and implicit-shift bidiagonal QR (Golub-Kahan-Reinsch). With k = min(m, n):
 * u: [m, k], s: [k] (descending, >= 0), vt: [k, n]; with fullMatrices, u: [m, m] and vt: [n, n].
 * Singular vectors are unique only up to sign (and within repeated singular values).
 */
export function svd(a: Tensor, options: SvdOptions = {}): SvdResult<Tensor> {
  const { data, rows: m, cols: n } = readMatrix(a, 'svd');
  const full = options.fullMatrices ?? false;
  const k = Math.min(m, n);
  const { u, s, vt } = svd64(data, m, n, full);
  const dtype = outputDType(options, a);
  return {
    u: toTensor(u, [m, full ? m : k], dtype),
    s: toTensor(s, [k], dtype),
    vt: toTensor(vt, [full ? n : k, n], dtype),
  };
}

/** The singular values of a: [m, n] in descending order, [min(m, n)]; cheaper than svd. */
export function singularValues(a: Tensor, options: OutputOptions = {}): Tensor {
  const { data, rows: m, cols: n } = readMatrix(a, 'singularValues');
  return toTensor(singularValues64(data, m, n), [Math.min(m, n)], outputDType(options, a));
}
