import { tensor } from '../../engine/create.js';
import type { Tensor } from '../../engine/tensor.js';
import { div, ge, le, lt, sub } from '../../ops/elementwise.js';
import { concat } from '../../ops/join.js';
import { countZeros, max, min } from '../../ops/reduce.js';
import { sort } from '../../ops/sort.js';
import { slice } from '../../ops/views.js';

/** One matrix's singular values, as the rank rules see them. */
export interface Spectrum {
  /** Full dotted module name. */
  name: string;
  /** [out, in]. */
  shape: [number, number];
  /** Singular values, descending: f64 [min(out, in)]. */
  values: Tensor;
  /** (s − min s)/(max s − min s): f64 [min(out, in)], 1 first; all ones when every value is equal. */
  normalized: Tensor;
}

/** How many components each matrix keeps, and the ERR that gives. */
export interface RankPlan {
  /** Module name -> kept components k (1 <= k <= min(out, in)); modules keeping all are included. */
  ranks: Map<string, number>;
  /** Σ dropped / Σ min(out, in) over the matrices that are reduced (droppedFraction > minRatio). */
  achievedErr: number;
  /** WeLore's global threshold on the normalised spectra; null for the uniform rule. */
  tau: number | null;
}

/** Min-max normalise a descending spectrum s: f64 [r]. */
export function normalizeSpectrum(values: Tensor): Tensor {
  const hi = max(values).item();
  const lo = min(values).item();
  return hi === lo
    ? tensor(new Float64Array(values.size).fill(1), values.shape, { dtype: 'f64' })
    : div(sub(values, lo), hi - lo);
}

/** Components of s that a matrix keeps at threshold τ: those with ŝ >= τ. */
function keptAt(spectrum: Spectrum, tau: number): number {
  return countZeros(lt(spectrum.normalized, tau));
}

const width = (s: Spectrum) => Math.min(...s.shape);

/** A matrix of `width` components kept at `rank` is reduced only when it drops more than minRatio of them. */
export function isReduced(width: number, rank: number, minRatio: number): boolean {
  return (width - rank) / width > minRatio;
}

/**
 * The ERR that ranks give, counting only the matrices that are reduced: a matrix whose dropped fraction is at most
 * minRatio stays unchanged and drops nothing. `total` is Σ min(out, in) over every decoder Linear (skipped included).
 */
function achievedErr(
  spectra: readonly Spectrum[],
  ranks: (s: Spectrum) => number,
  minRatio: number,
  total: number,
): number {
  let dropped = 0;
  for (const s of spectra) {
    if (isReduced(width(s), ranks(s), minRatio)) dropped += width(s) - ranks(s);
  }
  return total === 0 ? 0 : dropped / total;
}

/** The uniform SVD baseline: every matrix keeps round((1 − err)·min(out, in)) components, at least one. */
export function uniformPlan(spectra: readonly Spectrum[], err: number, minRatio: number, total: number): RankPlan {
  const rank = (s: Spectrum) => Math.max(1, Math.round((1 - err) * width(s)));
  return {
    ranks: new Map(spectra.map((s) => [s.name, rank(s)])),
    achievedErr: achievedErr(spectra, rank, minRatio, total),
    tau: null,
  };
}

/** WeLore's ranks at a given τ in [0, 1]. */
export function thresholdPlan(spectra: readonly Spectrum[], tau: number, minRatio: number, total: number): RankPlan {
  const ranks = new Map(spectra.map((s) => [s.name, keptAt(s, tau)]));
  const rank = (s: Spectrum) => ranks.get(s.name) as number;
  return { ranks, achievedErr: achievedErr(spectra, rank, minRatio, total), tau };
}

/**
 * WeLore's global τ for a target ERR, by bisection over the sorted normalised values of all matrices: cutting just
 * above the j-th smallest value c_j drops every component with ŝ <= c_j, and the achieved ERR grows with j. The cut
 * with the achieved ERR closest to the target wins (the smallest such j), and τ is placed midway between c_j and
 * the next larger value, so that a rounding of the spectra by far less than the gap cannot change a rank.
 * Components with ŝ = 1 (each matrix's largest) are never dropped.
 */
export function searchTau(spectra: readonly Spectrum[], targetErr: number, minRatio: number, total: number): RankPlan {
  if (spectra.length === 0) return { ranks: new Map(), achievedErr: 0, tau: 0 };
  const sorted = sort(concat(spectra.map((s) => s.normalized))).values; // f64 [N], ascending
  const n = sorted.size;
  const at = (j: number) => slice(sorted, 0, j, j + 1).item();
  // The cut above index j: midway to the next larger value (1 bounds it: ŝ = 1 is never cut).
  const tauAbove = (j: number): number => {
    if (j < 0) return 0;
    const c = at(j);
    const next = n - countZeros(le(sorted, c));
    return next >= n ? 1 : (c + Math.min(at(next), 1)) / 2;
  };
  // Each cut's plan is computed once: the search and the final comparison revisit the same cuts.
  const plans = new Map<number, RankPlan>();
  const planAbove = (j: number): RankPlan => {
    let plan = plans.get(j);
    if (!plan) plans.set(j, (plan = thresholdPlan(spectra, tauAbove(j), minRatio, total)));
    return plan;
  };
  const errAbove = (j: number) => planAbove(j).achievedErr;
  // Cuts j = −1 (nothing dropped) … last, the largest index whose value is below 1.
  const last = countZeros(ge(sorted, 1)) - 1;
  let lo = -1;
  let hi = last;
  if (errAbove(hi) >= targetErr) {
    // The smallest j with errAbove(j) >= target (errAbove(lo) < target <= errAbove(hi)); it or j − 1 is closest.
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (errAbove(mid) >= targetErr) hi = mid;
      else lo = mid;
    }
  }
  const best = hi > -1 && Math.abs(errAbove(hi - 1) - targetErr) <= Math.abs(errAbove(hi) - targetErr) ? hi - 1 : hi;
  return planAbove(best);
}
