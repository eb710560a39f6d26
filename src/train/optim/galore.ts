import { zeros } from '../../engine/create.js';
import { QuantizedTensor } from '../../engine/quant/quantized-tensor.js';
import type { Tensor } from '../../engine/tensor.js';
import { type SvdResult, svd } from '../../linalg/index.js';
import type { Module } from '../../nn/module.js';
import { assign_ } from '../../ops/assign.js';
import { abs, mul, sign } from '../../ops/elementwise.js';
import { gather } from '../../ops/indexing.js';
import { matmul } from '../../ops/matmul.js';
import { argmax } from '../../ops/reduce.js';
import { contiguous, reshape, slice, transpose } from '../../ops/views.js';
import {
  ADAMW_DEFAULTS,
  type AdamHyper,
  type AdamState,
  adamDirection,
  adamWUpdate,
  checkAdamHyper,
  decoupledDecay,
  initAdamState,
  Scratch,
} from './adamw.js';
import {
  type DecayGroupsOptions,
  decayGroups,
  Optimizer,
  OptimizerError,
  type ParamGroup,
  type ParamGroupSpec,
  type ParamsInput,
  updateInPlace,
  withDefaults,
} from './optimizer.js';

/**
 * Which side of an m×n gradient G a GaLore group projects, as galore-torch's `proj_type`: 'std' the smaller side
 * (right when m ≥ n), 'reverse_std' the larger, 'left' / 'right' always that one, 'full' both.
 */
export type ProjType = 'std' | 'reverse_std' | 'left' | 'right' | 'full';
export const PROJ_TYPES: readonly ProjType[] = ['std', 'reverse_std', 'left', 'right', 'full'];

export interface GaLoreHyper extends AdamHyper {
  /** Projection rank; null makes the group plain AdamW (torch's arithmetic, as `AdamW`). */
  rank: number | null;
  /** Steps between subspace refreshes (an SVD of the gradient when step % updateProjGap == 0, step 0 included). */
  updateProjGap: number;
  /** α: the projected-back update is multiplied by it. */
  scale: number;
  projType: ProjType;
}

export type GaLoreOptions = Partial<GaLoreHyper>;

/** A GaLore group as given to the constructor, galore-torch's `{params, rank, update_proj_gap, scale, proj_type}`. */
export type GaLoreGroupSpec = ParamGroupSpec<GaLoreHyper>;

/** AdamW's defaults (torch's), no projection; a group with a rank refreshes every 200 steps and scales by 0.25. */
export const GALORE_DEFAULTS: Readonly<GaLoreHyper> = Object.freeze({
  ...ADAMW_DEFAULTS,
  rank: null,
  updateProjGap: 200,
  scale: 0.25,
  projType: 'std' as ProjType,
});

/**
 * A parameter's state: Adam's moments (in the projected shape for a GaLore group) and the projections, P: [m, r]
 * (R = Pᵀ G) and Q: [r, n] (R = G Qᵀ), each null where that side is not projected (both null in a plain group).
 */
export interface GaLoreState extends AdamState {
  left: Tensor | null;
  right: Tensor | null;
}

/** The projected sides of an m×n gradient. */
export function projectedSides(shape: readonly number[], projType: ProjType): { left: boolean; right: boolean } {
  const tall = shape[0] >= shape[1];
  switch (projType) {
    case 'std':
      return { left: !tall, right: tall };
    case 'reverse_std':
      return { left: tall, right: !tall };
    case 'left':
      return { left: true, right: false };
    case 'right':
      return { left: false, right: true };
    case 'full':
      return { left: true, right: true };
  }
}

/**
 * The SVD with each singular pair (u[:, i], vt[i, :]) flipped so that the largest-|.| entry of u[:, i] (the first
 * on ties) is positive: singular vectors are defined only up to sign, and GaLore's moments are not rotated at a
 * refresh, so both sides of a trajectory comparison must pick the same signs (tools/galore_reference.py does this).
 */
export function canonicalSigns({ u, s, vt }: SvdResult<Tensor>): SvdResult<Tensor> {
  const signs = sign(gather(u, 0, argmax(abs(u), { axis: 0, keepdim: true }))); // [1, k]
  return { u: mul(u, signs), s, vt: mul(vt, transpose(signs)) };
}

/** AdamW's checks plus a rank group's: a positive integer rank and gap, a finite scale, a known projType, no amsgrad. */
export function checkGaLoreHyper(hyper: GaLoreHyper): void {
  checkAdamHyper(hyper);
  if (hyper.rank === null) return;
  if (!(Number.isInteger(hyper.rank) && hyper.rank >= 1)) throw new OptimizerError(`invalid rank ${hyper.rank}`);
  if (!(Number.isInteger(hyper.updateProjGap) && hyper.updateProjGap >= 1)) {
    throw new OptimizerError(`invalid updateProjGap ${hyper.updateProjGap}`);
  }
  if (!Number.isFinite(hyper.scale)) throw new OptimizerError(`invalid scale ${hyper.scale}`);
  if (!PROJ_TYPES.includes(hyper.projType)) throw new OptimizerError(`invalid projType '${hyper.projType}'`);
  if (hyper.amsgrad) throw new OptimizerError('GaLore groups do not take amsgrad');
}

/**
 * GaLore (Zhao et al. 2024, galore-torch's AdamW): AdamW whose groups with a `rank` keep Adam's moments in a low-rank
 * projection of each 2-D gradient, R = Pᵀ G or G Qᵀ (or Pᵀ G Qᵀ), refreshed from an SVD of the f32 gradient every
 * `updateProjGap` steps (step counted before the increment, so at step 0 too); the moments are not reset at a refresh.
 * Such a group follows galore-torch: N = m/(√v + eps), W −= lr·√(1−β2ᵗ)/(1−β1ᵗ)·scale·(P N or N Q), then decoupled
 * weight decay W −= lr·wd·W after the update. Groups without a rank are torch's AdamW, as `AdamW`.
 */
export class GaLoreAdamW extends Optimizer<GaLoreHyper, GaLoreState> {
  /** One parameter's update or low-rank direction, reused. */
  private readonly scratch = new Scratch();

  constructor(params: ParamsInput | GaLoreGroupSpec[], options: GaLoreOptions = {}) {
    super(params, withDefaults<GaLoreHyper>(GALORE_DEFAULTS, options));
    checkProjectable(this.groups);
  }

  protected override checkHyper(hyper: GaLoreHyper): void {
    checkGaLoreHyper(hyper);
  }

  protected override initState(param: Tensor, group: ParamGroup<GaLoreHyper>): GaLoreState {
    if (group.rank === null) return { ...initAdamState(param.size, group.amsgrad), left: null, right: null };
    const [m, n] = param.shape;
    const r = Math.min(group.rank, m, n);
    const sides = projectedSides(param.shape, group.projType);
    const size = (sides.left ? r : m) * (sides.right ? r : n);
    return {
      ...initAdamState(size, false),
      left: sides.left ? zeros([m, r]) : null,
      right: sides.right ? zeros([r, n]) : null,
    };
  }

  protected override updateParam(
    param: Tensor,
    grad: Tensor,
    state: GaLoreState,
    group: ParamGroup<GaLoreHyper>,
  ): void {
    if (group.rank === null) {
      adamWUpdate(param, grad, state, group, this.scratch.tensor(param.size));
      return;
    }
    if (state.step % group.updateProjGap === 0) refreshProjections(grad, state);
    galoreUpdate(param, grad, state, group, this.scratch, state);
  }
}

/** New P = U[:, :r] and Q = Vh[:r] from an SVD of grad: [m, n], written into the state's projections. */
function refreshProjections(grad: Tensor, state: GaLoreState): void {
  const { p, q } = svdProjections(grad, state.left ? state.left.shape[1] : (state.right as Tensor).shape[0]);
  if (state.left) assign_(state.left, p);
  if (state.right) assign_(state.right, q);
}

/** P = U[:, :r] and Q = Vh[:r] of grad [m, n], from one SVD with canonical signs: what a refresh may take. */
export function svdProjections(grad: Tensor, r: number): { p: Tensor; q: Tensor } {
  const { u, vt } = canonicalSigns(svd(grad));
  return { p: slice(u, 1, 0, r), q: slice(vt, 0, 0, r) };
}

/** Refuse a rank group holding a parameter that is not 2-D (GaLore projects matrices only). */
export function checkProjectable(groups: readonly ParamGroup<GaLoreHyper>[]): void {
  for (const group of groups) {
    if (group.rank === null) continue;
    const bad = group.params.find((p) => p.rank !== 2);
    if (bad) throw new OptimizerError(`GaLore projects 2-D parameters only, got shape [${bad.shape}]`);
  }
}

/** A group's projections, P: [m, r] and Q: [r, n], as f32 tensors (GaLore) or quantised ones (Q-GaLore's int4); null: that side is not projected. */
export interface Projections {
  left: Tensor | QuantizedTensor | null;
  right: Tensor | QuantizedTensor | null;
}

const transposed = (x: Tensor | QuantizedTensor) => (x instanceof QuantizedTensor ? x.t() : transpose(x));

/** A · X, as (Xᵀ Aᵀ)ᵀ when A is quantised (matmul takes quantised codes as its right operand only). */
function leftTimes(a: Tensor | QuantizedTensor, x: Tensor): Tensor {
  return a instanceof QuantizedTensor ? contiguous(transpose(matmul(transpose(x), a.t()))) : matmul(a, x);
}

/** R = Pᵀ G, G Qᵀ or Pᵀ G Qᵀ, contiguous. */
function project(grad: Tensor, { left, right }: Projections): Tensor {
  let low = grad;
  if (left) low = leftTimes(transposed(left), low);
  if (right) low = matmul(low, transposed(right));
  return contiguous(low);
}

/** P N, N Q or P N Q: a low-rank update back in the parameter's shape (a fresh contiguous tensor). */
function projectBack(low: Tensor, { left, right }: Projections): Tensor {
  let full = low;
  if (left) full = leftTimes(left, full);
  if (right) full = matmul(full, right);
  return full;
}

/**
 * GaLore's update of `target` (a contiguous f32 [m, n], in place) from grad through the projections: Adam on the
 * projected gradient, W −= lr·√(1−β2ᵗ)/(1−β1ᵗ)·scale·(projected back), then W −= lr·wd·W.
 */
export function galoreUpdate(
  target: Tensor,
  grad: Tensor,
  state: AdamState,
  group: GaLoreHyper,
  scratch: Scratch,
  projections: Projections,
): void {
  const low = project(grad, projections);
  const direction = scratch.tensor(low.size);
  const stepSize = adamDirection(low, state, group, direction);
  // projectBack's product is a fresh tensor: scale it in place rather than allocate two more of the target's size.
  const back = projectBack(reshape(direction, low.shape), projections);
  updateInPlace(back, 'mul', group.scale);
  updateInPlace(back, 'mul', -stepSize);
  updateInPlace(target, 'add', back);
  decoupledDecay(target, group.lr, group.weightDecay);
}

/** '*' matches any run of characters; several globs are separated by commas. */
export function globMatcher(globs: string): (name: string) => boolean {
  const patterns = globs
    .split(',')
    .map((g) => g.trim())
    .filter((g) => g !== '')
    .map((g) => new RegExp(`^${g.split('*').map(escapeRegExp).join('.*')}$`));
  return (name) => patterns.some((p) => p.test(name));
}

const escapeRegExp = (s: string) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');

/** The Linears GaLore goes on by default: attention and MLP (not embeddings, norms or lm_head). */
export const DEFAULT_GALORE_TARGETS = 'model.layers.*.self_attn.*,model.layers.*.mlp.*';

export interface GaLoreGroupsOptions extends DecayGroupsOptions {
  /** Names of the projected parameters (globMatcher; default DEFAULT_GALORE_TARGETS); only 2-D ones are taken. */
  targets?: string;
  rank?: number;
  updateProjGap?: number;
  scale?: number;
  projType?: ProjType;
}

/**
 * A model's trainable parameters as GaLore's groups: the 2-D targets in one GaLore group (decayed), the rest as
 * decayGroups splits them (plain AdamW, decayed and not). Throws when no trainable 2-D parameter matches the targets.
 */
export function galoreGroups(model: Module, options: GaLoreGroupsOptions = {}): GaLoreGroupSpec[] {
  const { targets = DEFAULT_GALORE_TARGETS } = options;
  const isTarget = globMatcher(targets);
  const projected = new Map<string, Tensor>();
  const rest = new Map<string, Tensor>();
  for (const [name, p] of model.namedParameters()) {
    if (!p.requiresGrad) continue;
    (p.rank === 2 && isTarget(name) ? projected : rest).set(name, p);
  }
  if (projected.size === 0)
    throw new OptimizerError(`no trainable 2-D parameter matches the GaLore targets '${targets}'`);
  return [rankGroup<GaLoreHyper>(projected, options), ...decayGroups<GaLoreHyper>(rest, options)];
}

/** The projected parameters as one group with the rank options (rank 128 by default), decayed (0.01 by default). */
export function rankGroup<H extends GaLoreHyper>(
  params: Map<string, Tensor>,
  options: GaLoreGroupsOptions,
): ParamGroupSpec<H> {
  const { rank = 128, updateProjGap, scale, projType, weightDecay = 0.01 } = options;
  return { params, rank, updateProjGap, scale, projType, weightDecay } as ParamGroupSpec<H>;
}
