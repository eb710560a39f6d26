import { zeros } from '../../engine/create.js';
import type { QuantFormat } from '../../engine/quant/formats.js';
import {
  dequantize,
  fromQuantizedParts,
  type QuantizedTensor,
  quantize,
  quantizedParts,
  requantize_,
} from '../../engine/quant/quantized-tensor.js';
import { Rng } from '../../engine/rng.js';
import type { Tensor } from '../../engine/tensor.js';
import type { Linear } from '../../nn/linear.js';
import type { Module } from '../../nn/module.js';
import { QuantLinear, quantizedWeightOf, quantizeLinears } from '../../nn/quant-linear.js';
import { assign_ } from '../../ops/assign.js';
import { abs, mul } from '../../ops/elementwise.js';
import { sum } from '../../ops/reduce.js';
import { contiguous, reshape, slice } from '../../ops/views.js';
import { type AdamState, adamWUpdate, initAdamState, Scratch } from './adamw.js';
import {
  checkGaLoreHyper,
  checkProjectable,
  DEFAULT_GALORE_TARGETS,
  GALORE_DEFAULTS,
  type GaLoreGroupsOptions,
  type GaLoreHyper,
  galoreUpdate,
  globMatcher,
  type Projections,
  projectedSides,
  rankGroup,
  svdProjections,
} from './galore.js';
import {
  decayGroups,
  Optimizer,
  OptimizerError,
  type OptimizerStateDict,
  type ParamGroup,
  type ParamGroupSpec,
  type ParamsInput,
  withDefaults,
} from './optimizer.js';

/** Q-GaLore's lazy subspace: at each refresh |cos| of the new and previous top singular vectors joins a window. */
export interface LazySubspace {
  /** When the mean of the last `window` values reaches this, that parameter's refresh gap doubles. */
  cosThreshold: number;
  window: number;
}

export interface QGaLoreHyper extends GaLoreHyper {
  /** Bits of the quantised weights this group trains (8: int8); a weight held in another format is refused. */
  weightBits: 8 | 4;
  /** Bits of the stored projections (4: int4, two codes a byte). */
  projBits: 8 | 4;
  /** Elements per quantisation group of the projections (and of the weights qgaloreGroups quantises). */
  groupSize: number;
  /** Requantise updated weights with stochastic rounding (true) or round to nearest. */
  stochasticRounding: boolean;
  /** null: refresh every updateProjGap steps, as GaLore. */
  lazy: LazySubspace | null;
}

export type QGaLoreOptions = Partial<QGaLoreHyper> & {
  /** Seed of the generator stochastic rounding draws from (saved with the state, so resuming stays exact). */
  seed?: number;
};

export type QGaLoreGroupSpec = ParamGroupSpec<QGaLoreHyper>;

/** The paper's settings: int8 weights with stochastic rounding, int4 projections in groups of 256, lazy refresh. */
export const QGALORE_DEFAULTS: Readonly<QGaLoreHyper> = Object.freeze({
  ...GALORE_DEFAULTS,
  weightBits: 8 as const,
  projBits: 4 as const,
  groupSize: 256,
  stochasticRounding: true,
  lazy: Object.freeze({ cosThreshold: 0.4, window: 5 }),
});

/** Mixed into the seed, so that stochastic rounding never replays the stream a model's initialisation drew. */
const ROUNDING_STREAM = 0x51a7e5d1;

const FORMAT_OF_BITS: Record<number, QuantFormat> = { 8: 'int8', 4: 'int4' };

/**
 * A parameter's state: Adam's moments (projected shape in a rank group), each projected side's codes, scales and
 * zero points (the projection itself is never kept in f32), and the lazy schedule: the previous top singular vector,
 * the window of |cos| values (a ring, `cosCount` written so far), the current gap and the SVDs taken.
 */
export interface QGaLoreState extends AdamState {
  leftCodes: Tensor | null;
  leftScales: Tensor | null;
  leftZeros: Tensor | null;
  rightCodes: Tensor | null;
  rightScales: Tensor | null;
  rightZeros: Tensor | null;
  topVector: Tensor | null;
  recentCos: Tensor | null;
  cosCount: number;
  gap: number;
  svdCount: number;
}

/**
 * Q-GaLore (Zhang et al. 2024): GaLore whose projections are stored in `projBits` (int4, two codes a byte) and whose
 * parameters may be quantised weights (a QuantLinear's, int8 in groups of 256, see qgaloreGroups). Such a weight is
 * dequantised, updated exactly as GaLore updates an f32 one (galoreUpdate), and requantised into its own codes with
 * stochastic rounding from the optimiser's seeded generator; no f32 copy of it outlives the step. With `lazy`, each
 * refresh records |cos| between the new and previous top singular vectors (U[:, 0] for a left projection, Vh[0]
 * otherwise); once the last `window` values average at least `cosThreshold`, that parameter's gap doubles (the
 * reference's rule, with |cos| since a singular vector's sign is arbitrary). Groups without a rank are AdamW.
 */
export class QGaLoreAdamW extends Optimizer<QGaLoreHyper, QGaLoreState> {
  private readonly scratch = new Scratch();
  private readonly rng: Rng;

  constructor(params: ParamsInput | QGaLoreGroupSpec[], options: QGaLoreOptions = {}) {
    const { seed = 0, ...hyper } = options;
    super(params, withDefaults<QGaLoreHyper>(QGALORE_DEFAULTS, hyper));
    this.rng = new Rng((seed ^ ROUNDING_STREAM) >>> 0);
    checkProjectable(this.groups);
    for (const group of this.groups) {
      for (const p of group.params) {
        const q = quantizedWeightOf(p);
        if (q && q.format !== FORMAT_OF_BITS[group.weightBits]) {
          throw new OptimizerError(`a ${q.format} weight in a group of ${group.weightBits}-bit weights`);
        }
      }
    }
  }

  protected override trainsQuantizedWeights(): boolean {
    return true;
  }

  protected override checkHyper(hyper: QGaLoreHyper): void {
    checkGaLoreHyper(hyper);
    if (!(hyper.weightBits in FORMAT_OF_BITS)) throw new OptimizerError(`invalid weightBits ${hyper.weightBits}`);
    if (!(hyper.projBits in FORMAT_OF_BITS)) throw new OptimizerError(`invalid projBits ${hyper.projBits}`);
    if (!(Number.isInteger(hyper.groupSize) && hyper.groupSize >= 1)) {
      throw new OptimizerError(`invalid groupSize ${hyper.groupSize}`);
    }
    const { lazy } = hyper;
    if (lazy && !(Number.isInteger(lazy.window) && lazy.window >= 1 && Number.isFinite(lazy.cosThreshold))) {
      throw new OptimizerError(`invalid lazy subspace {cosThreshold: ${lazy.cosThreshold}, window: ${lazy.window}}`);
    }
  }

  protected override initState(param: Tensor, group: ParamGroup<QGaLoreHyper>): QGaLoreState {
    const none = { leftCodes: null, leftScales: null, leftZeros: null, rightCodes: null, rightScales: null };
    const unprojected = { ...none, rightZeros: null, topVector: null, recentCos: null };
    const schedule = { cosCount: 0, gap: group.updateProjGap, svdCount: 0 };
    if (group.rank === null) return { ...initAdamState(param.size, group.amsgrad), ...unprojected, ...schedule };
    const [m, n] = param.shape;
    const r = Math.min(group.rank, m, n);
    const sides = projectedSides(param.shape, group.projType);
    // Zeros in the projBits format: the buffers every refresh requantises into.
    const format = FORMAT_OF_BITS[group.projBits];
    const side = (rows: number, cols: number) =>
      quantizedParts(quantize(zeros([rows, cols]), format, { groupSize: group.groupSize }));
    const left = sides.left ? side(m, r) : null;
    const right = sides.right ? side(r, n) : null;
    return {
      ...initAdamState((sides.left ? r : m) * (sides.right ? r : n), false),
      leftCodes: left?.codes ?? null,
      leftScales: left?.scales ?? null,
      leftZeros: left?.zeros ?? null,
      rightCodes: right?.codes ?? null,
      rightScales: right?.scales ?? null,
      rightZeros: right?.zeros ?? null,
      // The lazy rule follows the left vector only when the right side is not projected.
      topVector: zeros([sides.right ? n : m]),
      recentCos: group.lazy ? zeros([group.lazy.window]) : null,
      ...schedule,
    };
  }

  protected override updateParam(
    param: Tensor,
    grad: Tensor,
    state: QGaLoreState,
    group: ParamGroup<QGaLoreHyper>,
  ): void {
    const weight = quantizedWeightOf(param);
    // A quantised weight is updated in a transient f32 copy, then requantised into its own codes.
    const target = weight ? dequantize(weight) : param;
    if (group.rank === null) {
      adamWUpdate(target, grad, state, group, this.scratch.tensor(param.size));
    } else {
      if (state.step % state.gap === 0) this.refresh(grad, state, group);
      galoreUpdate(target, grad, state, group, this.scratch, this.projections(param.shape, state, group));
    }
    if (weight) {
      requantize_(weight, target, { rounding: group.stochasticRounding ? 'stochastic' : 'nearest', rng: this.rng });
    }
  }

  /** SVDs taken so far over all parameters (each refresh of each projected parameter is one). */
  get svdCount(): number {
    let count = 0;
    for (const group of this.groups) for (const p of group.params) count += this.stateOf(p)?.svdCount ?? 0;
    return count;
  }

  override stateDict(): OptimizerStateDict {
    return { ...super.stateDict(), extra: { rng: this.rng.getState() } };
  }

  override loadStateDict(dict: OptimizerStateDict): void {
    const rng = dict.extra?.rng as Parameters<Rng['setState']>[0] | undefined;
    if (!rng || !Array.isArray(rng.s) || rng.s.length !== 4) {
      throw new OptimizerError('QGaLoreAdamW state dict without its stochastic-rounding generator state');
    }
    super.loadStateDict(dict);
    this.rng.setState(rng);
  }

  /** The state's projections as quantised matrices over its own buffers (writing one writes the state). */
  private projections(
    shape: readonly number[],
    state: QGaLoreState,
    group: QGaLoreHyper,
  ): Projections & { left: QuantizedTensor | null; right: QuantizedTensor | null } {
    const [m, n] = shape;
    const format = FORMAT_OF_BITS[group.projBits];
    const view = (
      codes: Tensor | null,
      scales: Tensor | null,
      zeroPoints: Tensor | null,
      rows: number,
      cols: number,
    ) =>
      codes && scales
        ? fromQuantizedParts({ codes, scales, zeros: zeroPoints }, { format, rows, cols, groupSize: group.groupSize })
        : null;
    const r = Math.min(group.rank as number, m, n);
    return {
      left: view(state.leftCodes, state.leftScales, state.leftZeros, m, r),
      right: view(state.rightCodes, state.rightScales, state.rightZeros, r, n),
    };
  }

  /** New projections from an SVD of grad [m, n], quantised into the state; the lazy rule may double the gap. */
  private refresh(grad: Tensor, state: QGaLoreState, group: QGaLoreHyper): void {
    const [m, n] = grad.shape;
    const { p, q } = svdProjections(grad, Math.min(group.rank as number, m, n));
    const { left, right } = this.projections(grad.shape, state, group);
    if (left) requantize_(left, p);
    if (right) requantize_(right, q);
    const top = reshape(contiguous(state.rightCodes ? slice(q, 0, 0, 1) : slice(p, 1, 0, 1)), [-1]);
    const previous = state.topVector as Tensor;
    if (group.lazy && state.svdCount > 0) {
      const { window, cosThreshold } = group.lazy;
      const recent = state.recentCos as Tensor;
      // Both vectors are unit vectors, so |cos| is |⟨a, b⟩|.
      assign_(
        slice(recent, 0, state.cosCount % window, (state.cosCount % window) + 1),
        abs(sum(mul(top, previous), { keepdim: true })),
      );
      state.cosCount++;
      if (state.cosCount >= window && sum(recent).item() / window >= cosThreshold) state.gap *= 2;
    }
    assign_(previous, top);
    state.svdCount++;
  }
}

export interface QGaLoreGroupsOptions extends GaLoreGroupsOptions {
  /** Bits of the quantised weights (8: int8). */
  weightBits?: 8 | 4;
  /** Elements per quantisation group of weights and projections (default 256). */
  groupSize?: number;
}

/**
 * Prepare a model for Q-GaLore: its trainable target Linears (by weight name, DEFAULT_GALORE_TARGETS by default)
 * become QuantLinears holding `weightBits` codes (in place; round to nearest), and the groups are returned: their
 * gradient sinks in one rank group (decayed), everything else trainable as decayGroups splits it (plain AdamW).
 */
export function qgaloreGroups(model: Module, options: QGaLoreGroupsOptions = {}): QGaLoreGroupSpec[] {
  const { targets = DEFAULT_GALORE_TARGETS, weightBits = 8, groupSize = QGALORE_DEFAULTS.groupSize } = options;
  const isTarget = globMatcher(targets);
  const modules = model.namedModules();
  const names = quantizeLinears(model, {
    select: (name) => {
      const linear = modules.get(name) as Linear;
      if (!isTarget(`${name}.weight`) || !linear.weight.requiresGrad) return false;
      if (linear.mask) throw new OptimizerError(`${name} is pruned; Q-GaLore's quantised weights keep no mask`);
      return true;
    },
    format: FORMAT_OF_BITS[weightBits],
    groupSize,
  });
  if (names.length === 0) {
    throw new OptimizerError(`no trainable Linear weight matches the Q-GaLore targets '${targets}'`);
  }
  const projected = new Map<string, Tensor>();
  for (const [name, m] of model.namedModules())
    if (m instanceof QuantLinear) projected.set(`${name}.weight`, m.weightGrad);
  const others = new Map([...model.namedParameters()].filter(([, p]) => p.requiresGrad));
  return [
    { ...rankGroup<QGaLoreHyper>(projected, options), weightBits, groupSize },
    ...decayGroups<QGaLoreHyper>(others, options),
  ];
}
