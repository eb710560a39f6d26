import { hostKernelsFor } from '../backends/registry.js';
import type { SvdJob } from '../backends/ts/svd.js';
import { NumericalError } from '../engine/errors.js';
import type { Tensor } from '../engine/tensor.js';
import { assertFinite, type OutputOptions, outputDType, readMatrix, toTensor } from './matrix.js';

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

/** A decomposition job for a: [m, n] (f64), with outputs allocated; u and vt are null for singular values alone. */
function job(a: Float64Array, m: number, n: number, vectors: boolean, full: boolean): SvdJob {
  const k = Math.min(m, n);
  return {
    a,
    m,
    n,
    full,
    s: new Float64Array(k),
    u: vectors ? new Float64Array(m * (full ? m : k)) : null,
    vt: vectors ? new Float64Array((full ? n : k) * n) : null,
  };
}

/** Run the jobs through the svdBatch kernel (native: one matrix per thread); op names the caller in errors. */
function run(jobs: SvdJob[], op: string): void {
  for (const j of jobs) assertFinite(j.a, op);
  const failed = hostKernelsFor('f64').svdBatch(jobs);
  if (failed >= 0) throw new NumericalError(`${op}: the bidiagonal QR iteration did not converge (matrix ${failed})`);
}

/** Full SVD of a: [m, n] in f64; see svd for the shapes. */
export function svd64(a: Float64Array, m: number, n: number, full: boolean): SvdResult<Float64Array> {
  const j = job(a, m, n, true, full);
  run([j], 'svd');
  return { u: j.u as Float64Array, s: j.s, vt: j.vt as Float64Array };
}

/** The jobs for 2-D tensors (f64 copies of their elements). */
function jobsFor(as: readonly Tensor[], op: string, vectors: boolean, full: boolean): SvdJob[] {
  return as.map((a) => {
    const { data, rows, cols } = readMatrix(a, op);
    return job(data, rows, cols, vectors, full);
  });
}

/**
 * Singular value decompositions A = u · diag(s) · vt of several matrices, each as svd gives it (the same numbers);
 * with the native backend the matrices run in parallel, one per thread.
 */
export function svdMany(as: readonly Tensor[], options: SvdOptions = {}): SvdResult<Tensor>[] {
  const full = options.fullMatrices ?? false;
  const jobs = jobsFor(as, 'svd', true, full);
  run(jobs, 'svd');
  return jobs.map((j, i) => {
    const dtype = outputDType(options, as[i]);
    const k = Math.min(j.m, j.n);
    return {
      u: toTensor(j.u as Float64Array, [j.m, full ? j.m : k], dtype),
      s: toTensor(j.s, [k], dtype),
      vt: toTensor(j.vt as Float64Array, [full ? j.n : k, j.n], dtype),
    };
  });
}

/**
 * Singular value decomposition A = u · diag(s) · vt of a: [m, n], computed in f64 by Householder
 * bidiagonalisation (after a QR factorisation when m >= 1.6·n or n >= 1.6·m) and implicit-shift bidiagonal
 * QR (Golub-Kahan-Reinsch). With k = min(m, n): u: [m, k], s: [k] (descending, >= 0), vt: [k, n]; with
 * fullMatrices, u: [m, m] and vt: [n, n]. Singular vectors are unique only up to sign (and within repeated
 * singular values).
 */
export function svd(a: Tensor, options: SvdOptions = {}): SvdResult<Tensor> {
  return svdMany([a], options)[0];
}

/** The singular values of several matrices, each as singularValues gives it; in parallel with the native backend. */
export function singularValuesMany(as: readonly Tensor[], options: OutputOptions = {}): Tensor[] {
  const jobs = jobsFor(as, 'singularValues', false, false);
  run(jobs, 'singularValues');
  return jobs.map((j, i) => toTensor(j.s, [j.s.length], outputDType(options, as[i])));
}

/** The singular values of a: [m, n] in descending order, [min(m, n)]; cheaper than svd. */
export function singularValues(a: Tensor, options: OutputOptions = {}): Tensor {
  return singularValuesMany([a], options)[0];
}
