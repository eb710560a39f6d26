import type { Tensor } from '../../engine/tensor.js';
import type { SvdResult } from '../../linalg/index.js';
import { Linear } from '../../nn/linear.js';
import { LowRankLinear } from '../../nn/low-rank-linear.js';
import type { Module } from '../../nn/module.js';
import { mul, sqrt } from '../../ops/elementwise.js';
import { matmul } from '../../ops/matmul.js';
import { slice, unsqueeze } from '../../ops/views.js';

/** How a reduced matrix is kept: two factors when that saves parameters, else its rank-k reconstruction, dense. */
export type LowRankStorage = 'factors' | 'dense' | 'unchanged';

/** Factorising [out, in] at rank k saves parameters only when k·(out + in) < out·in. */
export function storageFor(shape: readonly [number, number], rank: number): Exclude<LowRankStorage, 'unchanged'> {
  const [out, inp] = shape;
  return rank * (out + inp) < out * inp ? 'factors' : 'dense';
}

/** The balanced rank-k factors of W = u·diag(s)·vt: U·√S (u: [out, k]) and √S·Vᵀ (v: [k, in]), in f64. */
export function balancedFactors({ u, s, vt }: SvdResult<Tensor>, rank: number): { u: Tensor; v: Tensor } {
  const root = sqrt(slice(s, 0, 0, rank)); // [k]
  return { u: mul(slice(u, 1, 0, rank), root), v: mul(slice(vt, 0, 0, rank), unsqueeze(root, 1)) };
}

/**
 * Replace the Linear at `name` in `model` by the rank-k form of its weight (svd: its f64 SVD): a LowRankLinear
 * holding the balanced factors (U carries the bias), or the same Linear holding the rank-k reconstruction.
 */
export function reduceLinear(
  model: Module,
  name: string,
  linear: Linear,
  decomposition: SvdResult<Tensor>,
  rank: number,
  storage: Exclude<LowRankStorage, 'unchanged'>,
): void {
  const { u, v } = balancedFactors(decomposition, rank);
  if (storage === 'dense') {
    // The product in f32 (the native GEMM), as PyTorch reconstructs it: the factors are exact to f32 already.
    model.setParameter(`${name}.weight`, matmul(u.to('f32'), v.to('f32')));
    return;
  }
  const bias = linear.bias;
  const factorised = new LowRankLinear(linear.inFeatures, linear.outFeatures, rank, {
    bias: bias !== null,
    init: false,
  });
  factorised.setParameter('U.weight', u.to('f32'));
  factorised.setParameter('V.weight', v.to('f32'));
  if (bias) factorised.setParameter('U.bias', bias);
  model.replaceModule(name, factorised);
}

/**
 * Turn every LowRankLinear of `model` back into a dense Linear holding U·V (an f32 GEMM of the stored factors),
 * so that the model is a plain checkpoint again (what transformers loads). Returns the merged modules' names.
 */
export function mergeLowRank(model: Module): string[] {
  const merged: string[] = [];
  for (const [name, m] of model.namedModules()) {
    if (!(m instanceof LowRankLinear)) continue;
    const bias = m.bias;
    const linear = new Linear(m.inFeatures, m.outFeatures, { bias: bias !== null, init: false });
    linear.setParameter('weight', matmul(m.u.weight, m.v.weight));
    if (bias) linear.setParameter('bias', bias);
    model.replaceModule(name, linear);
    merged.push(name);
  }
  return merged;
}
