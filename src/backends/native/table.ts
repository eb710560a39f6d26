import { allocUninit, type FloatArray, type Storage } from '../../engine/dtype.js';
import { QUANT_FORMATS } from '../../engine/quant/formats.js';
import { numel } from '../../engine/shape.js';
import type { KernelTable } from '../backend.js';
import type { AttentionArgs } from '../ts/attention.js';
import { collapseAxes, type StridedOperand } from '../ts/elementwise.js';
import { checkTargets } from '../ts/softmax.js';
import { type AttentionShapeArgs, BINARY_OPS, type NativeAddon, UNARY_GRAD_OPS, UNARY_OPS } from './loader.js';

const isF32 = (a: Storage): a is Float32Array => a instanceof Float32Array;
const unaryCodes = new Map<string, number>(UNARY_OPS.map((op, i) => [op, i]));
const unaryGradOps = new Set<string>(UNARY_GRAD_OPS);
const binaryCodes = new Map<string, number>(BINARY_OPS.map((op, i) => [op, i]));
const f32 = ['f32'] as const;

/** A binary operand the native flat loop takes: one contiguous run (step 1) or a scalar (step 0). */
function flatRun(o: StridedOperand, step: number, n: number): { data: Float32Array; step: number } {
  return { data: (o.data as Float32Array).subarray(o.offset, o.offset + (step ? n : 1)), step };
}

/** The steps of the binary call binaryIsFlat last accepted, so that run does not collapse the axes again. */
let lastFlat: { a: StridedOperand; b: StridedOperand; sa: number; sb: number } | null = null;

/** Whether every operand of a binary call is f32 and collapses to one flat run or scalar. */
function binaryIsFlat(out: Storage, shape: readonly number[], a: StridedOperand, b: StridedOperand): boolean {
  if (!(isF32(out) && isF32(a.data) && isF32(b.data))) return false;
  const { shape: cs, strides } = collapseAxes(shape, [a.strides, b.strides]);
  if (cs.length > 1) return false;
  const sa = strides[0][0] ?? 0;
  const sb = strides[1][0] ?? 0;
  lastFlat = { a, b, sa, sb };
  return (sa === 0 || sa === 1) && (sb === 0 || sb === 1);
}

/** The steps of a call binaryIsFlat accepted (computed again for a direct call that skipped it). */
function flatSteps(shape: readonly number[], a: StridedOperand, b: StridedOperand): [number, number] {
  if (lastFlat && lastFlat.a === a && lastFlat.b === b) return [lastFlat.sa, lastFlat.sb];
  const { strides } = collapseAxes(shape, [a.strides, b.strides]);
  return [strides[0][0] ?? 0, strides[1][0] ?? 0];
}

/** Whether the native loop reads the attention mask: none, bool (Uint8Array) or f32. */
const nativeMask = ({ mask }: AttentionArgs) => !mask || mask.data instanceof Uint8Array || isF32(mask.data);

/** The attention entries' trailing native arguments (for a call `nativeMask` accepted). */
function attentionShapeArgs(a: AttentionArgs): AttentionShapeArgs {
  const { mask } = a;
  return [
    a.batch,
    a.heads,
    a.kvHeads,
    a.t,
    a.s,
    a.d,
    a.dv,
    a.scale,
    a.causal,
    a.window,
    mask ? (mask.data as Float32Array | Uint8Array) : null,
    mask ? Float64Array.from(mask.strides) : null,
    mask ? mask.offset : 0,
  ];
}

const isF32OrNull = (x: FloatArray | null) => x === null || isF32(x);

/**
 * The native addon's kernels: f32 only but svdBatch (f64 elsewhere, used by gradient checks, resolves to the TypeScript twin), each with the
 * per-call limits of its C++ loop in `accepts`. Kernels it lacks are absent and resolve to TypeScript.
 */
export function nativeKernelEntries(addon: NativeAddon): KernelTable {
  return {
    unary: {
      dtypes: f32,
      accepts: (op, x, out) => unaryCodes.has(op) && isF32(x) && isF32(out),
      run: (op, x, out) => addon.unary(unaryCodes.get(op) as number, x as Float32Array, out as Float32Array),
    },
    unaryGrad: {
      dtypes: f32,
      accepts: (op, x, g, out) => unaryGradOps.has(op) && isF32(x) && isF32(g) && isF32(out),
      run: (op, x, g, out) => {
        addon.unaryGrad(unaryCodes.get(op) as number, x as Float32Array, g as Float32Array, out as Float32Array);
      },
    },
    binary: {
      dtypes: f32,
      accepts: (_op, out, shape, a, b) => binaryCodes.has(_op) && binaryIsFlat(out, shape, a, b),
      run: (op, out, shape, a, b) => {
        const [sa, sb] = flatSteps(shape, a, b);
        const n = out.length;
        const ra = flatRun(a, sa, n);
        const rb = flatRun(b, sb, n);
        addon.binary(binaryCodes.get(op) as number, ra.data, ra.step, rb.data, rb.step, out as Float32Array);
      },
    },
    softmax: {
      dtypes: f32,
      accepts: (x, out, _outer, _len, inner) => inner === 1 && isF32(x) && isF32(out),
      run: (x, out, outer, len, _inner, log) =>
        addon.softmaxRows(x as Float32Array, out as Float32Array, outer, len, log),
    },
    softmaxBands: {
      dtypes: f32,
      accepts: (x) => isF32(x),
      run: (x, offset, rows, len, lo, hi) => addon.softmaxBands(x as Float32Array, offset, rows, len, lo, hi),
    },
    softmaxBackward: {
      dtypes: f32,
      accepts: (y, g, dx, _outer, _len, inner, log) => inner === 1 && !log && isF32(y) && isF32(g) && isF32(dx),
      run: (y, g, dx, outer, len) =>
        addon.softmaxBackwardRows(y as Float32Array, g as Float32Array, dx as Float32Array, outer, len),
    },
    rmsNormForward: {
      dtypes: f32,
      accepts: (x, weight, out) => isF32(x) && isF32(weight) && isF32(out),
      run: (x, weight, out, rstd, rows, dim, eps) =>
        addon.rmsNorm(x as Float32Array, weight as Float32Array, out as Float32Array, rstd, rows, dim, eps),
    },
    rmsNormBackward: {
      dtypes: f32,
      accepts: (x, weight, _rstd, g, dx) => isF32(x) && isF32(weight) && isF32(g) && (dx === null || isF32(dx)),
      run: (x, weight, rstd, g, dx, dw, rows, dim) =>
        addon.rmsNormBackward(
          x as Float32Array,
          weight as Float32Array,
          rstd,
          g as Float32Array,
          dx as Float32Array | null,
          dw,
          rows,
          dim,
        ),
    },
    rope: {
      dtypes: f32,
      accepts: (src, out, _dim, cos, sin) => isF32(src) && isF32(out) && isF32(cos.data) && isF32(sin.data),
      run: (src, out, dim, cos, sin, transpose) =>
        addon.rope(
          src as Float32Array,
          out as Float32Array,
          cos.rows.length,
          dim,
          cos.data as Float32Array,
          cos.rows,
          cos.step,
          sin.data as Float32Array,
          sin.rows,
          sin.step,
          transpose,
        ),
    },
    copyStrided: {
      dtypes: f32,
      accepts: (src, _shape, _strides, _offset, out) => isF32(src) && (out === undefined || isF32(out)),
      run: (src, shape, strides, offset, out) => {
        const dst = (out ?? allocUninit('f32', numel(shape))) as Float32Array;
        addon.copyStrided(src as Float32Array, dst, Float64Array.from(shape), Float64Array.from(strides), offset);
        return dst as typeof src;
      },
    },
    adamDelta: {
      dtypes: f32,
      run: (grad, m, v, vMax, delta, s) =>
        addon.adamDelta(grad, m, v, vMax, delta, s.weight1, s.decay2, s.weight2, s.correction2, s.eps, s.negStepSize),
    },
    crossEntropyForward: {
      dtypes: f32,
      accepts: (logits, spec, losses) => isF32(logits) && isF32(losses) && spec.targets instanceof Int32Array,
      run: (logits, spec, losses, stats) => {
        checkTargets(spec);
        return addon.crossEntropy(
          logits as Float32Array,
          spec.targets as Int32Array,
          losses as Float32Array,
          stats.max,
          stats.logSum,
          spec.rows,
          spec.classes,
          spec.ignoreIndex,
          spec.smoothing,
        );
      },
    },
    crossEntropyBackward: {
      dtypes: f32,
      accepts: (logits, spec, _stats, _rowGrad, dx) => isF32(logits) && isF32(dx) && spec.targets instanceof Int32Array,
      run: (logits, spec, stats, rowGrad, dx) =>
        addon.crossEntropyBackward(
          logits as Float32Array,
          spec.targets as Int32Array,
          stats.max,
          stats.logSum,
          rowGrad instanceof Float64Array ? rowGrad : Float64Array.from(rowGrad),
          dx as Float32Array,
          spec.rows,
          spec.classes,
          spec.ignoreIndex,
          spec.smoothing,
        ),
    },
    gemm: {
      dtypes: f32,
      accepts: (g) => isF32(g.a) && isF32(g.b) && isF32(g.c),
      run: (g) =>
        addon.gemm(
          g.transA,
          g.transB,
          g.m,
          g.n,
          g.k,
          g.alpha,
          g.a as Float32Array,
          g.aOffset,
          g.lda,
          g.strideA,
          g.b as Float32Array,
          g.bOffset,
          g.ldb,
          g.strideB,
          g.beta,
          g.c as Float32Array,
          g.cOffset,
          g.ldc,
          g.strideC,
          g.batch,
        ),
    },
    attentionForward: {
      dtypes: f32,
      accepts: (a, q, k, v, out, lse) => isF32(q) && isF32(k) && isF32(v) && isF32(out) && isF32(lse) && nativeMask(a),
      run: (a, q, k, v, out, lse) =>
        addon.attentionForward(
          q as Float32Array,
          k as Float32Array,
          v as Float32Array,
          out as Float32Array,
          lse as Float32Array,
          ...attentionShapeArgs(a),
        ),
    },
    attentionBackward: {
      dtypes: f32,
      accepts: (a, q, k, v, out, lse, dOut, dq, dk, dv) =>
        isF32(q) &&
        isF32(k) &&
        isF32(v) &&
        isF32(out) &&
        isF32(lse) &&
        isF32(dOut) &&
        isF32OrNull(dq) &&
        isF32OrNull(dk) &&
        isF32OrNull(dv) &&
        nativeMask(a),
      run: (a, q, k, v, out, lse, dOut, dq, dk, dv) =>
        addon.attentionBackward(
          q as Float32Array,
          k as Float32Array,
          v as Float32Array,
          out as Float32Array,
          lse as Float32Array,
          dOut as Float32Array,
          dq as Float32Array | null,
          dk as Float32Array | null,
          dv as Float32Array | null,
          ...attentionShapeArgs(a),
        ),
    },
    svdBatch: {
      dtypes: ['f64'] as const,
      run: (jobs) => addon.svdBatch(jobs),
    },
    quantGemm: {
      dtypes: f32,
      accepts: (g) => isF32(g.x) && isF32(g.y),
      run: (g) => {
        const { w } = g;
        addon.quantGemm(
          g.transW,
          g.m,
          g.x as Float32Array,
          QUANT_FORMATS.indexOf(w.format),
          w.rows,
          w.cols,
          w.groupSize,
          w.codes,
          w.scales,
          w.zeros,
          g.y as Float32Array,
        );
      },
    },
  };
}
