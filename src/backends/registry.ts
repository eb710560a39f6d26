import { availableParallelism } from 'node:os';
import { allocUninit, type FloatArray, type Storage } from '../engine/dtype.js';
import { envValue } from '../engine/env.js';
import { EnvError } from '../engine/errors.js';
import { QUANT_FORMATS } from '../engine/quant/formats.js';
import { numel } from '../engine/shape.js';
import {
  type AttentionShapeArgs,
  BINARY_OPS,
  type GemmInfo,
  loadNative,
  type NativeAddon,
  type NativeStatus,
  UNARY_OPS,
} from './native/loader.js';
import { adamDeltaTs } from './ts/adam.js';
import { type AttentionArgs, attentionBackwardTs, attentionForwardTs } from './ts/attention.js';
import { copyStrided } from './ts/copy.js';
import {
  type BinaryOp,
  binaryTs,
  collapseAxes,
  type StridedOperand,
  type UnaryOp,
  unaryGradTs,
  unaryTs,
} from './ts/elementwise.js';
import { type GemmKernel, gemmTs } from './ts/gemm.js';
import { rmsNormBackwardTs, rmsNormForwardTs } from './ts/norm.js';
import { type QuantGemmKernel, quantGemmTs } from './ts/quant.js';
import { ropeTs } from './ts/rope.js';
import {
  type CrossEntropyRows,
  crossEntropyBackwardTs,
  crossEntropyForwardTs,
  type RowStats,
  softmaxBackwardTs,
  softmaxBandsTs,
  softmaxForwardTs,
} from './ts/softmax.js';

/**
 * Every kernel that has more than one implementation. Each entry takes flat typed arrays plus
 * sizes and strides; the TypeScript version is the reference, the native one must agree with it.
 */
export interface Kernels {
  gemm: GemmKernel;
  unary: typeof unaryTs;
  unaryGrad: typeof unaryGradTs;
  binary: typeof binaryTs;
  softmax: typeof softmaxForwardTs;
  softmaxBands: typeof softmaxBandsTs;
  rmsNormForward: typeof rmsNormForwardTs;
  rmsNormBackward: typeof rmsNormBackwardTs;
  softmaxBackward: typeof softmaxBackwardTs;
  rope: typeof ropeTs;
  copyStrided: typeof copyStrided;
  adamDelta: typeof adamDeltaTs;
  crossEntropyForward: typeof crossEntropyForwardTs;
  crossEntropyBackward: typeof crossEntropyBackwardTs;
  quantGemm: QuantGemmKernel;
  attentionForward: typeof attentionForwardTs;
  attentionBackward: typeof attentionBackwardTs;
}

export type BackendName = 'native' | 'ts';

export const tsKernels: Kernels = {
  gemm: gemmTs,
  unary: unaryTs,
  unaryGrad: unaryGradTs,
  binary: binaryTs,
  softmax: softmaxForwardTs,
  softmaxBands: softmaxBandsTs,
  rmsNormForward: rmsNormForwardTs,
  rmsNormBackward: rmsNormBackwardTs,
  softmaxBackward: softmaxBackwardTs,
  rope: ropeTs,
  copyStrided,
  adamDelta: adamDeltaTs,
  crossEntropyForward: crossEntropyForwardTs,
  crossEntropyBackward: crossEntropyBackwardTs,
  quantGemm: quantGemmTs,
  attentionForward: attentionForwardTs,
  attentionBackward: attentionBackwardTs,
};

const isF32 = (a: Storage): a is Float32Array => a instanceof Float32Array;
const unaryCodes = new Map<UnaryOp, number>(UNARY_OPS.map((op, i) => [op, i]));
const binaryCodes = new Map<BinaryOp, number>(BINARY_OPS.map((op, i) => [op, i]));

/** An operand the native flat loop can take: one contiguous run (step 1) or a scalar (step 0). */
function flatRun(
  o: StridedOperand,
  stride: number | undefined,
  n: number,
): { data: Float32Array; step: number } | null {
  if (!isF32(o.data)) return null;
  const step = stride ?? 0;
  if (step !== 0 && step !== 1) return null;
  return { data: o.data.subarray(o.offset, o.offset + (step ? n : 1)), step };
}

/** The addon's trailing attention arguments, or null when the mask is f64 (the TS twin takes that). */
function attentionShapeArgs(a: AttentionArgs): AttentionShapeArgs | null {
  const { mask } = a;
  if (mask && !(mask.data instanceof Uint8Array || isF32(mask.data))) return null;
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

/** Native kernels for f32 data; anything else (f64 for gradient checks) goes to the TS twin. */
function nativeKernels(addon: NativeAddon): Kernels {
  return {
    unary: (op, x, out) => {
      const code = unaryCodes.get(op);
      if (code === undefined || !isF32(x) || !isF32(out)) unaryTs(op, x, out);
      else addon.unary(code, x, out);
    },
    unaryGrad: (op, x, g, out) => {
      const code = unaryCodes.get(op);
      const done = code !== undefined && isF32(x) && isF32(g) && isF32(out) && addon.unaryGrad(code, x, g, out);
      if (!done) unaryGradTs(op, x, g, out);
    },
    binary: (op, out, shape, a, b) => {
      const code = binaryCodes.get(op);
      const { shape: cs, strides } = collapseAxes(shape, [a.strides, b.strides]);
      const n = out.length;
      const ra = cs.length <= 1 ? flatRun(a, strides[0][0], n) : null;
      const rb = cs.length <= 1 ? flatRun(b, strides[1][0], n) : null;
      if (code === undefined || !ra || !rb || !isF32(out)) binaryTs(op, out, shape, a, b);
      else addon.binary(code, ra.data, ra.step, rb.data, rb.step, out);
    },
    softmax: (x, out, outer, len, inner, log) => {
      if (inner === 1 && isF32(x) && isF32(out)) addon.softmaxRows(x, out, outer, len, log);
      else softmaxForwardTs(x, out, outer, len, inner, log);
    },
    softmaxBands: (x, offset, rows, len, lo, hi) => {
      if (isF32(x)) addon.softmaxBands(x, offset, rows, len, lo, hi);
      else softmaxBandsTs(x, offset, rows, len, lo, hi);
    },
    rmsNormForward: (x, weight, out, rstd, rows, dim, eps) => {
      if (isF32(x) && isF32(weight) && isF32(out)) addon.rmsNorm(x, weight, out, rstd, rows, dim, eps);
      else rmsNormForwardTs(x, weight, out, rstd, rows, dim, eps);
    },
    rmsNormBackward: (x, weight, rstd, g, dx, dw, rows, dim) => {
      if (isF32(x) && isF32(weight) && isF32(g) && (dx === null || isF32(dx))) {
        addon.rmsNormBackward(x, weight, rstd, g, dx, dw, rows, dim);
      } else rmsNormBackwardTs(x, weight, rstd, g, dx, dw, rows, dim);
    },
    softmaxBackward: (y, g, dx, outer, len, inner, log) => {
      if (inner === 1 && !log && isF32(y) && isF32(g) && isF32(dx)) addon.softmaxBackwardRows(y, g, dx, outer, len);
      else softmaxBackwardTs(y, g, dx, outer, len, inner, log);
    },
    rope: (src, out, dim, cos, sin, transpose) => {
      if (isF32(src) && isF32(out) && isF32(cos.data) && isF32(sin.data)) {
        addon.rope(
          src,
          out,
          cos.rows.length,
          dim,
          cos.data,
          cos.rows,
          cos.step,
          sin.data,
          sin.rows,
          sin.step,
          transpose,
        );
      } else ropeTs(src, out, dim, cos, sin, transpose);
    },
    copyStrided: (src, shape, strides, offset, out) => {
      if (!isF32(src) || (out !== undefined && !isF32(out))) return copyStrided(src, shape, strides, offset, out);
      const dst = (out ?? allocUninit('f32', numel(shape))) as Float32Array;
      addon.copyStrided(src, dst, Float64Array.from(shape), Float64Array.from(strides), offset);
      return dst as typeof src;
    },
    adamDelta: (grad, m, v, vMax, delta, s) =>
      addon.adamDelta(grad, m, v, vMax, delta, s.weight1, s.decay2, s.weight2, s.correction2, s.eps, s.negStepSize),
    crossEntropyForward: (logits: FloatArray, spec: CrossEntropyRows, losses: FloatArray, stats: RowStats) => {
      const t = spec.targets;
      if (!(isF32(logits) && isF32(losses) && t instanceof Int32Array)) {
        return crossEntropyForwardTs(logits, spec, losses, stats);
      }
      return addon.crossEntropy(
        logits,
        t,
        losses,
        stats.max,
        stats.logSum,
        spec.rows,
        spec.classes,
        spec.ignoreIndex,
        spec.smoothing,
      );
    },
    crossEntropyBackward: (logits, spec, stats, rowGrad, dx) => {
      const t = spec.targets;
      if (!(isF32(logits) && isF32(dx) && t instanceof Int32Array)) {
        crossEntropyBackwardTs(logits, spec, stats, rowGrad, dx);
        return;
      }
      const grads = rowGrad instanceof Float64Array ? rowGrad : Float64Array.from(rowGrad);
      addon.crossEntropyBackward(
        logits,
        t,
        stats.max,
        stats.logSum,
        grads,
        dx,
        spec.rows,
        spec.classes,
        spec.ignoreIndex,
        spec.smoothing,
      );
    },
    quantGemm: (g) => {
      const { w } = g;
      if (!(isF32(g.x) && isF32(g.y))) {
        quantGemmTs(g);
        return;
      }
      const format = QUANT_FORMATS.indexOf(w.format);
      addon.quantGemm(g.transW, g.m, g.x, format, w.rows, w.cols, w.groupSize, w.codes, w.scales, w.zeros, g.y);
    },
    attentionForward: (a, q, k, v, out, lse) => {
      const shape = attentionShapeArgs(a);
      if (shape && isF32(q) && isF32(k) && isF32(v) && isF32(out) && isF32(lse)) {
        addon.attentionForward(q, k, v, out, lse, ...shape);
      } else attentionForwardTs(a, q, k, v, out, lse);
    },
    attentionBackward: (a, q, k, v, out, lse, dOut, dq, dk, dv) => {
      const shape = attentionShapeArgs(a);
      const f32 = (x: FloatArray | null): x is Float32Array | null => x === null || isF32(x);
      if (shape && isF32(q) && isF32(k) && isF32(v) && isF32(out) && isF32(lse) && isF32(dOut)) {
        if (f32(dq) && f32(dk) && f32(dv))
          return addon.attentionBackward(q, k, v, out, lse, dOut, dq, dk, dv, ...shape);
      }
      attentionBackwardTs(a, q, k, v, out, lse, dOut, dq, dk, dv);
    },
    gemm: (g) => {
      if (!(g.a instanceof Float32Array && g.b instanceof Float32Array && g.c instanceof Float32Array)) {
        gemmTs(g);
        return;
      }
      addon.gemm(
        g.transA,
        g.transB,
        g.m,
        g.n,
        g.k,
        g.alpha,
        g.a,
        g.aOffset,
        g.lda,
        g.strideA,
        g.b,
        g.bOffset,
        g.ldb,
        g.strideB,
        g.beta,
        g.c,
        g.cOffset,
        g.ldc,
        g.strideC,
        g.batch,
      );
    },
  };
}

interface Active {
  name: BackendName;
  kernels: Kernels;
}

let active: Active | null = null;
let warned = false;

/** Most native threads lithe starts, as native/gemm.h's kMaxThreads. */
export const MAX_THREADS = 256;

/**
 * The largest LITHE_THREADS accepted: 4 × availableParallelism(), at most MAX_THREADS. Oversubscribing the CPUs that
 * far only slows the kernels down, and a count in the tens of thousands makes the OS refuse to start the threads.
 */
export function threadLimit(): number {
  return Math.min(MAX_THREADS, 4 * availableParallelism());
}

/** LITHE_BACKEND: 'native', 'ts', or null when unset; anything else is an EnvError. */
export function requestedBackend(): BackendName | null {
  const value = envValue('LITHE_BACKEND');
  if (value === undefined) return null;
  if (value === 'ts' || value === 'native') return value;
  throw new EnvError('LITHE_BACKEND', value, "use 'native' or 'ts' (or leave it unset)");
}

/** LITHE_THREADS as a thread count, or null when unset; anything but an integer in [1, threadLimit()] is an EnvError. */
export function requestedThreads(): number | null {
  const value = envValue('LITHE_THREADS');
  if (value === undefined) return null;
  const n = /^[0-9]+$/.test(value) ? Number(value) : Number.NaN;
  const limit = threadLimit();
  if (!(n >= 1 && n <= limit)) {
    throw new EnvError(
      'LITHE_THREADS',
      value,
      `use an integer from 1 to ${limit} (4 × the ${availableParallelism()} CPUs available, at most ${MAX_THREADS})`,
    );
  }
  return n;
}

/** The GEMM paths native/gemm.cc has, fastest first (arm64 has only 'portable'). */
export const SIMD_PATHS = ['avx512', 'avx2', 'portable'] as const;
export type SimdPath = (typeof SIMD_PATHS)[number];

/**
 * LITHE_SIMD as a GEMM path, or null when unset. A name not in SIMD_PATHS is an EnvError, and so is one not in
 * `runnable` (the paths this CPU runs) when that is given.
 */
export function requestedSimd(runnable?: readonly string[]): SimdPath | null {
  const value = envValue('LITHE_SIMD');
  if (value === undefined) return null;
  const path = SIMD_PATHS.find((p) => p === value);
  if (path === undefined) {
    throw new EnvError('LITHE_SIMD', value, `use ${SIMD_PATHS.map((p) => `'${p}'`).join(', ')} (or leave it unset)`);
  }
  if (runnable && !runnable.includes(path)) {
    throw new EnvError('LITHE_SIMD', value, `this CPU runs ${runnable.map((p) => `'${p}'`).join(', ')}`);
  }
  return path;
}

/**
 * The backend to use. LITHE_THREADS is checked first, whichever backend: the native pool reads it on its own when it
 * starts (see native/gemm.cc's default_threads), so it must be valid before any native kernel runs.
 */
function choose(name: BackendName | null): Active {
  requestedThreads();
  if (name === 'ts') {
    requestedSimd();
    return { name: 'ts', kernels: tsKernels };
  }
  const { addon, status } = loadNative();
  if (addon) {
    const simd = requestedSimd(addon.gemmInfo().supported);
    if (simd !== null) addon.setSimd(simd);
    return { name: 'native', kernels: nativeKernels(addon) };
  }
  requestedSimd();
  if (!warned && typeof process !== 'undefined') {
    warned = true;
    process.stderr.write(`lithe: using the TypeScript kernels, because ${status.reason}\n`);
  }
  return { name: 'ts', kernels: tsKernels };
}

/**
 * out = a op b elementwise over whole contiguous arrays of out's length, through the active binary kernel;
 * b may be a scalar (rounded to out's precision). out may alias a or b.
 */
export function binaryFlat(op: BinaryOp, out: FloatArray, a: FloatArray, b: FloatArray | number): void {
  const whole = (data: FloatArray) => ({ data, strides: [1], offset: 0 });
  const scalar = (value: number) => ({
    data: out instanceof Float32Array ? Float32Array.of(value) : Float64Array.of(value),
    strides: [0],
    offset: 0,
  });
  kernels().binary(op, out, [out.length], whole(a), typeof b === 'number' ? scalar(b) : whole(b));
}

/**
 * The kernel table in use: native when the addon loaded (unless LITHE_BACKEND=ts), else TypeScript. The first call
 * reads LITHE_BACKEND, LITHE_THREADS and LITHE_SIMD, so a bad value is an EnvError there, not at import.
 */
export function kernels(): Kernels {
  active ??= choose(requestedBackend());
  return active.kernels;
}

export function backendName(): BackendName {
  kernels();
  return (active as Active).name;
}

/** Switch backends at run time (tests compare the two); returns the backend actually in use. */
export function setBackend(name: BackendName): BackendName {
  active = choose(name);
  return active.name;
}

/** The native kernel table, or null when the addon is not available: for twin tests and benchmarks. */
export function nativeKernelTable(): Kernels | null {
  const { addon } = loadNative();
  return addon ? nativeKernels(addon) : null;
}

export interface BackendInfo {
  backend: BackendName;
  threads: number;
  simd: string | null;
  /** The native GEMM path, the paths this CPU runs, its blocking and the cache sizes behind it; null without the addon. */
  gemm: GemmInfo | null;
  native: NativeStatus;
}

export function backendInfo(): BackendInfo {
  const backend = backendName();
  const { addon, status } = loadNative();
  return {
    backend,
    threads: backend === 'native' && addon ? addon.threads() : 1,
    simd: addon ? addon.simd() : null,
    gemm: addon ? addon.gemmInfo() : null,
    native: status,
  };
}
