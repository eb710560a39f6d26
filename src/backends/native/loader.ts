import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { FloatArray } from '../../engine/dtype.js';
import type { SvdJob } from '../ts/svd.js';

/** The GEMM path in use, the paths this CPU runs (fastest first), the blocking, and the cache sizes it came from. */
export interface GemmInfo {
  simd: string;
  supported: string[];
  /** Micro-tile rows and columns. */
  mr: number;
  nr: number;
  /** Rows of A, depth and columns of B per block. */
  mc: number;
  kc: number;
  nc: number;
  /** Bytes per core of each cache level (l3: the core's share; 0 when there is none). */
  l1d: number;
  l2: number;
  l3: number;
  /** Where the sizes came from: 'cpuid', 'sysfs', 'sysctl' or 'default'. */
  cacheSource: string;
}

/** The trailing arguments of both attention entries, in native/binding.cc's order. */
export type AttentionShapeArgs = [
  batch: number,
  heads: number,
  kvHeads: number,
  t: number,
  s: number,
  d: number,
  dv: number,
  scale: number,
  causal: boolean,
  window: number,
  mask: Float32Array | Uint8Array | null,
  maskStrides: Float64Array | null,
  maskOffset: number,
];

/** The functions the compiled addon exports (see native/binding.cc). */
export interface NativeAddon {
  /** Positional form of GemmArgs, f32 only. */
  gemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: FloatArray,
    aOffset: number,
    lda: number,
    strideA: number,
    b: FloatArray,
    bOffset: number,
    ldb: number,
    strideB: number,
    beta: number,
    c: FloatArray,
    cOffset: number,
    ldc: number,
    strideC: number,
    batch: number,
  ): void;
  threads(): number;
  setThreads(n: number): void;
  /** The micro-kernel set in use: 'avx512', 'avx2', 'neon' (arm64) or 'portable'. */
  simd(): string;
  /** Switch to another kernel set this CPU supports (tests cover the slower ones); throws RangeError otherwise. */
  setSimd(level: string): void;
  gemmInfo(): GemmInfo;
  /** out[i] = op(x[i]); op is an index into UNARY_OPS. */
  unary(op: number, x: Float32Array, out: Float32Array): void;
  /** out[i] = g[i]·op'(x[i]); false (nothing written) when the op has no native gradient. */
  unaryGrad(op: number, x: Float32Array, g: Float32Array, out: Float32Array): boolean;
  crossEntropyBackward(
    logits: Float32Array,
    targets: Int32Array,
    rowMax: Float64Array,
    rowLogSum: Float64Array,
    rowGrad: Float64Array,
    dx: Float32Array,
    rows: number,
    classes: number,
    ignoreIndex: number,
    smoothing: number,
  ): void;
  /** out[i] = a[i·aStep] op b[i·bStep] with steps 0 or 1; op is an index into BINARY_OPS. */
  binary(op: number, a: Float32Array, aStep: number, b: Float32Array, bStep: number, out: Float32Array): void;
  softmaxRows(x: Float32Array, out: Float32Array, rows: number, len: number, log: boolean): void;
  softmaxBands(x: Float32Array, offset: number, rows: number, len: number, lo: Int32Array, hi: Int32Array): void;
  rmsNorm(
    x: Float32Array,
    weight: Float32Array,
    out: Float32Array,
    rstd: Float64Array,
    rows: number,
    dim: number,
    eps: number,
  ): void;
  /** Gradient of rmsNorm; a null output is skipped, dw accumulates. */
  rmsNormBackward(
    x: Float32Array,
    weight: Float32Array,
    rstd: Float64Array,
    g: Float32Array,
    dx: Float32Array | null,
    dw: Float64Array | null,
    rows: number,
    dim: number,
  ): void;
  /** dx = y·(g − Σ g·y) per row of [rows, len]; dx may be g. */
  softmaxBackwardRows(y: Float32Array, g: Float32Array, dx: Float32Array, rows: number, len: number): void;
  /** Rotate-half rotary embedding (or its transpose) of each row; see ropeTs. */
  rope(
    src: Float32Array,
    out: Float32Array,
    rows: number,
    dim: number,
    cos: Float32Array,
    cosRows: Int32Array,
    cosStep: number,
    sin: Float32Array,
    sinRows: Int32Array,
    sinStep: number,
    transpose: boolean,
  ): void;
  /** Adam's moments and update (see adamDeltaTs); vMax is null without AMSGrad. */
  adamDelta(
    grad: Float32Array,
    m: Float32Array,
    v: Float32Array,
    vMax: Float32Array | null,
    delta: Float32Array,
    weight1: number,
    decay2: number,
    weight2: number,
    correction2: number,
    eps: number,
    negStepSize: number,
  ): void;
  /**
   * Flash-style attention forward (see attentionForwardTs): out [B, Hq, T, Dv], lse [B, Hq, T]. window 0 = none;
   * mask null, a Uint8Array (non-zero = may attend) or a Float32Array (added), read as [B, Hq, T, S] through
   * maskStrides (4 integers) from maskOffset.
   */
  attentionForward(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    out: Float32Array,
    lse: Float32Array,
    ...shape: AttentionShapeArgs
  ): void;
  /** FlashAttention-2 backward (see attentionBackwardTs); a null output is skipped, the others are overwritten. */
  attentionBackward(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    out: Float32Array,
    lse: Float32Array,
    dOut: Float32Array,
    dq: Float32Array | null,
    dk: Float32Array | null,
    dv: Float32Array | null,
    ...shape: AttentionShapeArgs
  ): void;
  /** dst = the strided view of src (shape, strides as integer Float64Arrays, offset). */
  copyStrided(src: Float32Array, dst: Float32Array, shape: Float64Array, strides: Float64Array, offset: number): void;
  /** f64 SVDs of a batch, one matrix per pool thread (native/svd.h); the first job that did not converge, or −1. */
  svdBatch(jobs: readonly SvdJob[]): number;
  /** Quantised GEMM (see QuantGemmArgs); format is an index into QUANT_FORMATS, zeros null for int8-channel. */
  quantGemm(
    transW: boolean,
    m: number,
    x: Float32Array,
    format: number,
    rows: number,
    cols: number,
    groupSize: number,
    codes: Uint8Array | Int8Array,
    scales: Float32Array,
    zeros: Uint8Array | null,
    y: Float32Array,
  ): void;
  crossEntropy(
    logits: Float32Array,
    targets: Int32Array,
    losses: Float32Array,
    rowMax: Float64Array,
    rowLogSum: Float64Array,
    rows: number,
    classes: number,
    ignoreIndex: number,
    smoothing: number,
  ): number;
}

/** The unary ops the addon implements, in the order of native/elementwise.h's UnaryOp. */
export const UNARY_OPS = [
  'neg',
  'exp',
  'log',
  'sqrt',
  'rsqrt',
  'abs',
  'relu',
  'sigmoid',
  'tanh',
  'silu',
  'geluTanh',
  'geluErf',
  'softplus',
  'logSigmoid',
] as const;

/** The unary ops whose gradient the addon implements (native/elementwise.cc's unary_grad_range; others return false). */
export const UNARY_GRAD_OPS = ['relu', 'silu', 'geluTanh', 'geluErf', 'softplus', 'logSigmoid'] as const;

/** The binary ops the addon implements, in the order of native/elementwise.h's BinaryOp. */
export const BINARY_OPS = ['add', 'sub', 'mul', 'div'] as const;

export interface NativeStatus {
  built: boolean;
  loaded: boolean;
  /** Why the addon is not in use, when it is not. */
  reason: string | null;
  path: string;
}

// dist/src/backends/native/loader.js -> package root is four levels up.
const packageRoot = fileURLToPath(new URL('../../../../', import.meta.url));
const addonPath = `${packageRoot}build/Release/lithe_native.node`;
const buildLogPath = `${packageRoot}build/native-status.json`;

let cached: { addon: NativeAddon | null; status: NativeStatus } | null = null;

/** Load the addon once; never throws. */
export function loadNative(): { addon: NativeAddon | null; status: NativeStatus } {
  if (cached) return cached;
  if (!existsSync(addonPath)) {
    let reason = 'the native addon was not built (run `npm install` or `npm rebuild lithe`)';
    if (existsSync(buildLogPath)) {
      try {
        const log = JSON.parse(readFileSync(buildLogPath, 'utf8')) as { ok: boolean; error?: string };
        if (!log.ok && log.error) reason = `the native addon failed to compile: ${log.error}`;
      } catch {
        // A corrupt status file only loses the detail, not the fallback.
      }
    }
    cached = { addon: null, status: { built: false, loaded: false, reason, path: addonPath } };
    return cached;
  }
  try {
    const require = createRequire(import.meta.url);
    const addon = require(addonPath) as NativeAddon;
    cached = { addon, status: { built: true, loaded: true, reason: null, path: addonPath } };
  } catch (err) {
    const reason = `the native addon failed to load: ${(err as Error).message.split('\n')[0]}`;
    cached = { addon: null, status: { built: true, loaded: false, reason, path: addonPath } };
  }
  return cached;
}
