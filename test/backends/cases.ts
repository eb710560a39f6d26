import type { AttentionArgs, HostKernels, KernelName } from '../../src/backends/kernels.js';
import { adaptiveWindows, stridedWindows } from '../../src/backends/kernels.js';
import { BINARY_OPS, UNARY_GRAD_OPS, UNARY_OPS } from '../../src/backends/native/loader.js';
import { attentionForwardTs } from '../../src/backends/ts/attention.js';
import { tensor } from '../../src/engine/create.js';
import type { FloatArray, FloatDType } from '../../src/engine/dtype.js';
import type { QuantFormat } from '../../src/engine/quant/formats.js';
import { quantize } from '../../src/engine/quant/quantized-tensor.js';
import { Rng } from '../../src/engine/rng.js';
import type { Tensor } from '../../src/engine/tensor.js';
import * as ops from '../../src/index.js';
import { windowGeometry } from '../../src/ops/conv.js';

/**
 * The backend case table, in the manner of ggml's test-backend-ops: per kernel, rows of arguments that every backend
 * must compute as the TypeScript reference does, within the row's tolerance. A kernel with no rows fails the test;
 * adding a kernel means adding its rows here.
 */
export interface KernelCase<K extends KernelName> {
  label: string;
  /** The dtypes to run the row in (the arguments' float dtype). */
  dtypes: readonly FloatDType[];
  /** |got − want| ≤ atol + rtol·|want|, elementwise; [0, 0] is bit for bit. */
  tol: readonly [atol: number, rtol: number];
  /** Fresh arguments: every call returns equal ones (seeded), so the reference and the backend start alike. */
  args: (dtype: FloatDType) => Parameters<HostKernels[K]>;
  /** The results to compare: output arguments (written in place) and the return value. */
  outputs: (
    args: Parameters<HostKernels[K]>,
    result: ReturnType<HostKernels[K]>,
  ) => (ArrayLike<number> | number | null)[];
}

export type CaseTable = { [K in KernelName]?: KernelCase<K>[] };

const BOTH = ['f32', 'f64'] as const;
const F32 = ['f32'] as const;

/** n seeded normal values (times scale) of dtype. */
export function values(dtype: FloatDType, n: number, seed: number, scale = 1): FloatArray {
  const rng = new Rng(seed);
  const out = dtype === 'f64' ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = scale * rng.normal();
  return out;
}

const zeros = (dtype: FloatDType, n: number): FloatArray =>
  dtype === 'f64' ? new Float64Array(n) : new Float32Array(n);

/** Seeded integers in [0, size). */
function ints(n: number, size: number, seed: number): Int32Array {
  const rng = new Rng(seed);
  return Int32Array.from({ length: n }, () => Math.min(size - 1, Math.floor(rng.uniform() * size)));
}

type GemmShape = [transA: boolean, transB: boolean, m: number, n: number, k: number, batch: number, pad: number];

/** A GEMM call over padded, offset operands (a broadcast A when batch > 1 and strideA 0 is asked for by pad < 0). */
function gemmArgs(dtype: FloatDType, [transA, transB, m, n, k, batch, pad]: GemmShape, beta: number) {
  const extra = Math.abs(pad);
  const [ar, ac] = transA ? [k, m] : [m, k];
  const [br, bc] = transB ? [n, k] : [k, n];
  const lda = ac + extra;
  const ldb = bc + extra;
  const ldc = n + extra;
  const broadcastA = pad < 0;
  const strideA = broadcastA ? 0 : ar * lda;
  const strideB = br * ldb;
  const strideC = m * ldc;
  return {
    transA,
    transB,
    m,
    n,
    k,
    alpha: 0.75,
    beta,
    a: values(dtype, 3 + (broadcastA ? 1 : batch) * ar * lda, 1),
    aOffset: 3,
    lda,
    strideA,
    b: values(dtype, 2 + batch * br * ldb, 2),
    bOffset: 2,
    ldb,
    strideB,
    c: values(dtype, 1 + batch * strideC, 3),
    cOffset: 1,
    ldc,
    strideC,
    batch,
  };
}

const GEMM_SHAPES: GemmShape[] = [
  [false, false, 1, 1, 1, 1, 0],
  [false, false, 7, 13, 5, 1, 0],
  [true, false, 17, 9, 33, 1, 2],
  [false, true, 33, 65, 31, 3, 1],
  [true, true, 12, 18, 7, 2, 0],
  [false, false, 6, 40, 129, 4, -1],
  [false, false, 70, 1, 300, 1, 0],
];

/** Operands for a strided elementwise call over shape: contiguous, transposed, broadcast (stride 0) or offset. */
function strided(
  dtype: FloatDType,
  shape: number[],
  layout: 'flat' | 'transposed' | 'broadcast' | 'scalar',
  seed: number,
) {
  const n = shape.reduce((a, b) => a * b, 1);
  if (layout === 'scalar') return { data: values(dtype, 4, seed), strides: shape.map(() => 0), offset: 2 };
  if (layout === 'broadcast' && shape.length === 2) {
    return { data: values(dtype, shape[1] + 1, seed), strides: [0, 1], offset: 1 };
  }
  if (layout === 'transposed' && shape.length === 2) {
    return { data: values(dtype, n, seed), strides: [1, shape[0]], offset: 0 };
  }
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  return { data: values(dtype, n + 3, seed), strides, offset: 3 };
}

const ELEMENTWISE: [
  number[],
  'flat' | 'transposed' | 'broadcast' | 'scalar',
  'flat' | 'transposed' | 'broadcast' | 'scalar',
][] = [
  [[1], 'flat', 'flat'],
  [[1001], 'flat', 'flat'],
  [[40000], 'flat', 'scalar'],
  [[1001], 'flat', 'scalar'],
  [[1001], 'scalar', 'flat'],
  [[7, 13], 'transposed', 'flat'],
  [[7, 13], 'flat', 'broadcast'],
  [[5, 1], 'broadcast', 'transposed'],
];

const geo = (
  c: number,
  hw: [number, number],
  k: [number, number],
  s: [number, number],
  p: [number, number],
  d: [number, number] = [1, 1],
) => windowGeometry('case', c, hw, k, s, p, d);

const CONV_GEOMETRIES = [
  { batch: 1, cOut: 1, groups: 1, geo: geo(1, [1, 1], [1, 1], [1, 1], [0, 0]) },
  { batch: 2, cOut: 4, groups: 1, geo: geo(3, [7, 5], [3, 3], [1, 1], [1, 1]) },
  { batch: 2, cOut: 6, groups: 3, geo: geo(3, [9, 8], [2, 3], [2, 1], [0, 1], [1, 2]) },
  { batch: 3, cOut: 5, groups: 1, geo: geo(4, [6, 6], [1, 1], [1, 1], [0, 0]) },
  { batch: 1, cOut: 4, groups: 4, geo: geo(4, [1, 11], [1, 3], [1, 2], [0, 1]) },
];

const POOL_GEOMETRIES = [
  geo(1, [1, 1], [1, 1], [1, 1], [0, 0]),
  geo(3, [7, 9], [2, 2], [2, 2], [0, 0]),
  geo(2, [8, 5], [3, 3], [2, 1], [1, 1], [1, 2]),
];

function meanPoolGeometries() {
  return [
    {
      planes: 1,
      height: 1,
      width: 1,
      rows: stridedWindows(1, 1, 1, 1, 0),
      cols: stridedWindows(1, 1, 1, 1, 0),
      divisor: null,
    },
    {
      planes: 3,
      height: 7,
      width: 9,
      rows: stridedWindows(7, 4, 2, 2, 1),
      cols: stridedWindows(9, 5, 3, 2, 1),
      divisor: 6,
    },
    { planes: 2, height: 10, width: 7, rows: adaptiveWindows(10, 3), cols: adaptiveWindows(7, 4), divisor: null },
  ];
}

const fr = Math.fround;
const ADAM = {
  weight1: fr(0.1),
  decay2: fr(0.95),
  weight2: fr(0.05),
  correction2: fr(Math.sqrt(1 - 0.95 ** 3)),
  eps: fr(1e-8),
  negStepSize: fr(-3e-3 / (1 - 0.9 ** 3)),
};

/** Cross-entropy rows: an ignored target every 7th row. */
function ceSpec(rows: number, classes: number, smoothing: number) {
  const targets = Int32Array.from({ length: rows }, (_, i) => (i % 7 === 3 ? -100 : (i * 37) % classes));
  return { targets, rows, classes, ignoreIndex: -100, smoothing };
}

const ropeTable = (dtype: FloatDType, rows: number, t: number, dim: number, seed: number) => ({
  data: values(dtype, t * dim, seed),
  rows: Int32Array.from({ length: rows }, (_, r) => (r % t) * dim),
  step: 1,
});

/** Positive values for the ops with a domain (log, sqrt, rsqrt). */
function unaryInput(op: string, dtype: FloatDType, n: number): FloatArray {
  const x = values(dtype, n, 5, 4);
  if (n > 8) x.set([0, -0, 30, -30, 90, -90, 1e-20, -1e-20]);
  return op === 'log' || op === 'sqrt' || op === 'rsqrt' ? x.map(Math.abs) : x;
}

type AttentionShape = [batch: number, heads: number, kvHeads: number, t: number, s: number, d: number, dv: number];

/** Attention arguments for a shape: causal or not, a sliding window, and an optional bool or float mask [B, 1, T, S]. */
function attentionArgs(
  dtype: FloatDType,
  [batch, heads, kvHeads, t, s, d, dv]: AttentionShape,
  causal: boolean,
  window: number,
  mask: 'none' | 'bool' | 'float',
): AttentionArgs {
  const maskData =
    mask === 'bool'
      ? Uint8Array.from(ints(batch * t * s, 4, 51), (x) => (x === 0 ? 0 : 1))
      : mask === 'float'
        ? values(dtype, batch * t * s, 52)
        : null;
  return {
    batch,
    heads,
    kvHeads,
    t,
    s,
    d,
    dv,
    scale: 1 / Math.sqrt(d),
    causal,
    window,
    mask: maskData && { data: maskData, strides: [t * s, 0, s, 1], offset: 0 },
  };
}

const ATTENTION_CASES: [AttentionShape, boolean, number, 'none' | 'bool' | 'float'][] = [
  [[1, 1, 1, 1, 1, 1, 1], true, 0, 'none'],
  [[2, 6, 2, 5, 5, 3, 4], true, 0, 'none'],
  [[1, 4, 1, 3, 7, 5, 5], true, 2, 'bool'],
  [[1, 2, 2, 70, 150, 8, 8], false, 0, 'float'],
];

/** q, k, v and the forward's out and lse for an attention case. */
function attentionInputs(dtype: FloatDType, a: AttentionArgs) {
  const q = values(dtype, a.batch * a.heads * a.t * a.d, 53);
  const k = values(dtype, a.batch * a.kvHeads * a.s * a.d, 54);
  const v = values(dtype, a.batch * a.kvHeads * a.s * a.dv, 55);
  const out = zeros(dtype, a.batch * a.heads * a.t * a.dv);
  const lse = zeros(dtype, a.batch * a.heads * a.t);
  attentionForwardTs(a, q, k, v, out, lse);
  return { q, k, v, out, lse };
}

/** A seeded [rows, cols] weight quantised in a format, for the quantised GEMM rows. */
const quantWeight = (format: QuantFormat, rows: number, cols: number, groupSize: number) =>
  quantize(tensor(Array.from(values('f32', rows * cols, 56)), [rows, cols]), format, {
    groupSize: format === 'int8-channel' ? undefined : groupSize,
  });

export const CASES: CaseTable = {
  gemm: GEMM_SHAPES.flatMap((shape) =>
    [0, 1].map((beta) => ({
      label: `gemm [${shape}] beta ${beta}`,
      dtypes: BOTH,
      tol: [1e-5, 1e-4] as const,
      args: (d: FloatDType) => [gemmArgs(d, shape, beta)] as [ReturnType<typeof gemmArgs>],
      outputs: ([g]) => [g.c],
    })),
  ),
  unary: [...UNARY_OPS, 'sign' as const].flatMap((op) =>
    [1, 4099, 70001].map((n) => ({
      label: `unary ${op} n=${n}`,
      dtypes: BOTH,
      tol: [1e-6, 4e-6] as const,
      args: (d: FloatDType) => [op, unaryInput(op, d, n), zeros(d, n)] as Parameters<HostKernels['unary']>,
      outputs: ([, , out]) => [out],
    })),
  ),
  unaryGrad: UNARY_GRAD_OPS.flatMap((op) =>
    [1, 2049, 50001].map((n) => ({
      label: `unaryGrad ${op} n=${n}`,
      dtypes: BOTH,
      tol: [2e-6, 2e-5] as const,
      args: (d: FloatDType) =>
        [op, values(d, n, 6, 4), values(d, n, 7), zeros(d, n)] as Parameters<HostKernels['unaryGrad']>,
      outputs: ([, , , out]) => [out],
    })),
  ),
  binary: [...BINARY_OPS, 'pow' as const, 'maximum' as const, 'lt' as const].flatMap((op) =>
    ELEMENTWISE.map(([shape, la, lb]) => ({
      label: `binary ${op} [${shape}] ${la}·${lb}`,
      dtypes: BOTH,
      tol: [0, 1e-7] as const,
      args: (d: FloatDType) => {
        const n = shape.reduce((a, b) => a * b, 1);
        const a = strided(d, shape, la, 8);
        if (op === 'pow') a.data = a.data.map(Math.abs);
        return [op, zeros(d, n), shape, a, strided(d, shape, lb, 9)] as Parameters<HostKernels['binary']>;
      },
      outputs: ([, out]) => [out],
    })),
  ),
  where: ELEMENTWISE.map(([shape, la, lb]) => ({
    label: `where [${shape}] ${la}·${lb}`,
    dtypes: BOTH,
    tol: [0, 0] as const,
    args: (d: FloatDType) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const cond = strided(d, shape, 'flat', 10);
      cond.data = cond.data.map((v) => (v > 0 ? 1 : 0));
      return [zeros(d, n), shape, cond, strided(d, shape, la, 11), strided(d, shape, lb, 12)] as Parameters<
        HostKernels['where']
      >;
    },
    outputs: ([out]) => [out],
  })),
  softmax: (
    [
      [1, 1, 1],
      [37, 257, 1],
      [3, 5, 7],
      [1, 1000, 1],
    ] as const
  ).flatMap(([outer, len, inner]) =>
    [false, true].map((log) => ({
      label: `softmax [${outer}, ${len}, ${inner}] log=${log}`,
      dtypes: BOTH,
      tol: [1e-6, 1e-5] as const,
      args: (d: FloatDType) => {
        const x = values(d, outer * len * inner, 13, 5);
        if (x.length > 300) x[300] = Number.NEGATIVE_INFINITY;
        return [x, zeros(d, x.length), outer, len, inner, log] as Parameters<HostKernels['softmax']>;
      },
      outputs: ([, out]) => [out],
    })),
  ),
  softmaxBands: (
    [
      [1, 1, 0],
      [48, 40, 8],
      [9, 13, 0],
    ] as const
  ).map(([rows, len, shift]) => ({
    label: `softmaxBands ${rows}×${len} shift ${shift}`,
    dtypes: BOTH,
    tol: [1e-7, 1e-5] as const,
    args: (d: FloatDType) => {
      const lo = Int32Array.from({ length: rows }, (_, r) => Math.max(0, r - shift - 10));
      const hi = Int32Array.from({ length: rows }, (_, r) => Math.min(len - 1, r - shift));
      return [values(d, 7 + rows * len, 14), 7, rows, len, lo, hi] as Parameters<HostKernels['softmaxBands']>;
    },
    outputs: ([x]) => [x],
  })),
  softmaxBackward: (
    [
      [1, 1, 1, false],
      [29, 300, 1, false],
      [29, 31, 1, true],
      [3, 5, 7, false],
    ] as const
  ).map(([outer, len, inner, log]) => ({
    label: `softmaxBackward [${outer}, ${len}, ${inner}] log=${log}`,
    dtypes: BOTH,
    tol: [1e-6, 1e-5] as const,
    args: (d: FloatDType) => {
      const n = outer * len * inner;
      const y = zeros(d, n);
      const x = values(d, n, 15);
      for (let r = 0; r < outer * inner; r++) {
        // Rows of a softmax (or log-softmax) along len.
        const o = Math.floor(r / inner);
        const i = r % inner;
        let s = 0;
        for (let j = 0; j < len; j++) s += Math.exp(x[(o * len + j) * inner + i]);
        for (let j = 0; j < len; j++) {
          const p = (o * len + j) * inner + i;
          y[p] = log ? x[p] - Math.log(s) : Math.exp(x[p]) / s;
        }
      }
      return [y, values(d, n, 16), zeros(d, n), outer, len, inner, log] as Parameters<HostKernels['softmaxBackward']>;
    },
    outputs: ([, , dx]) => [dx],
  })),
  rmsNormForward: (
    [
      [1, 1],
      [33, 384],
      [5, 17],
    ] as const
  ).map(([rows, dim]) => ({
    label: `rmsNormForward ${rows}×${dim}`,
    dtypes: BOTH,
    tol: [1e-6, 1e-6] as const,
    args: (d: FloatDType) =>
      [
        values(d, rows * dim, 17),
        values(d, dim, 18),
        zeros(d, rows * dim),
        new Float64Array(rows),
        rows,
        dim,
        1e-5,
      ] as Parameters<HostKernels['rmsNormForward']>,
    outputs: ([, , out, rstd]) => [out, rstd],
  })),
  rmsNormBackward: (
    [
      [1, 1, 'both'],
      [37, 384, 'both'],
      [5, 17, 'dx'],
      [5, 17, 'dw'],
    ] as const
  ).map(([rows, dim, which]) => ({
    label: `rmsNormBackward ${rows}×${dim} ${which}`,
    dtypes: BOTH,
    tol: [1e-5, 1e-5] as const,
    args: (d: FloatDType) =>
      [
        values(d, rows * dim, 19),
        values(d, dim, 20),
        new Float64Array(rows).map((_, i) => 0.5 + i / rows),
        values(d, rows * dim, 21),
        which === 'dw' ? null : zeros(d, rows * dim),
        which === 'dx' ? null : new Float64Array(dim).fill(0.25),
        rows,
        dim,
      ] as Parameters<HostKernels['rmsNormBackward']>,
    outputs: ([, , , , dx, dw]) => [dx, dw],
  })),
  layerNormForward: (
    [
      [1, 1, true],
      [9, 31, true],
      [4, 16, false],
    ] as const
  ).map(([rows, dim, affine]) => ({
    label: `layerNormForward ${rows}×${dim} affine=${affine}`,
    dtypes: BOTH,
    tol: [1e-6, 1e-6] as const,
    args: (d: FloatDType) =>
      [
        values(d, rows * dim, 22),
        affine ? values(d, dim, 23) : null,
        affine ? values(d, dim, 24) : null,
        zeros(d, rows * dim),
        new Float64Array(rows),
        new Float64Array(rows),
        rows,
        dim,
        1e-5,
      ] as Parameters<HostKernels['layerNormForward']>,
    outputs: ([, , , out, mean, rstd]) => [out, mean, rstd],
  })),
  layerNormBackward: (
    [
      [1, 1, true],
      [9, 31, true],
      [4, 16, false],
    ] as const
  ).map(([rows, dim, affine]) => ({
    label: `layerNormBackward ${rows}×${dim} affine=${affine}`,
    dtypes: BOTH,
    tol: [1e-6, 1e-6] as const,
    args: (d: FloatDType) =>
      [
        values(d, rows * dim, 25),
        affine ? values(d, dim, 26) : null,
        new Float64Array(rows).map((_, i) => i / rows - 0.5),
        new Float64Array(rows).map((_, i) => 0.5 + i / rows),
        values(d, rows * dim, 27),
        zeros(d, rows * dim),
        affine ? new Float64Array(dim) : null,
        affine ? new Float64Array(dim) : null,
        rows,
        dim,
      ] as Parameters<HostKernels['layerNormBackward']>,
    outputs: ([, , , , , dx, dw, db]) => [dx, dw, db],
  })),
  rope: (
    [
      [1, 1, 2],
      [66, 11, 16],
      [6, 3, 6],
    ] as const
  ).flatMap(([rows, t, dim]) =>
    [false, true].map((transpose) => ({
      label: `rope ${rows} rows × ${dim}, table of ${t}, transpose=${transpose}`,
      dtypes: BOTH,
      tol: [1e-6, 1e-6] as const,
      args: (d: FloatDType) =>
        [
          values(d, rows * dim, 28),
          zeros(d, rows * dim),
          dim,
          ropeTable(d, rows, t, dim, 29),
          ropeTable(d, rows, t, dim, 30),
          transpose,
        ] as Parameters<HostKernels['rope']>,
      outputs: ([, out]) => [out],
    })),
  ),
  copyStrided: (
    [
      [[4, 6, 8, 16], [768, 16, 96, 1], 3],
      [[7, 9], [1, 7], 0],
      [[3, 4, 5], [0, 5, 1], 10],
      [[6, 10], [-10, 1], 60],
      [[2, 3, 4], [12, 4, -1], 3],
      [[], [], 42],
      [[1], [1], 0],
      [[3, 0, 2], [2, 2, 1], 0],
    ] as [number[], number[], number][]
  ).map(([shape, strides, offset]) => ({
    label: `copyStrided [${shape}] strides [${strides}] offset ${offset}`,
    dtypes: BOTH,
    tol: [0, 0] as const,
    args: (d: FloatDType) => [values(d, 5000, 31), shape, strides, offset] as Parameters<HostKernels['copyStrided']>,
    outputs: (_args, result) => [result],
  })),
  writeStrided: (
    [
      [[7, 9], [1, 7], 0],
      [[1], [1], 3],
      [[], [], 5],
      [[3, 4], [8, 2], 1],
    ] as [number[], number[], number][]
  ).map(([shape, strides, offset]) => ({
    label: `writeStrided [${shape}] strides [${strides}] offset ${offset}`,
    dtypes: BOTH,
    tol: [0, 0] as const,
    args: (d: FloatDType) =>
      [
        { data: zeros(d, 100), strides, offset },
        shape,
        values(
          d,
          shape.reduce((a, b) => a * b, 1),
          32,
        ),
      ] as Parameters<HostKernels['writeStrided']>,
    outputs: ([dst]) => [dst.data],
  })),
  adamDelta: [1, 7, 100003].flatMap((n) =>
    [false, true].map((amsgrad) => ({
      label: `adamDelta n=${n} amsgrad=${amsgrad}`,
      dtypes: F32,
      tol: [0, 0] as const,
      args: () => {
        const grad = values('f32', n, 33, 0.01) as Float32Array;
        if (n > 5) grad.set([0, -0, 1e-30, 1e10, -1e10]);
        const v = (values('f32', n, 35, 0.01) as Float32Array).map((x) => x * x);
        return [
          grad,
          values('f32', n, 34, 0.01) as Float32Array,
          v,
          amsgrad ? v.map((x) => x * 1.5) : null,
          new Float32Array(n),
          ADAM,
        ] as Parameters<HostKernels['adamDelta']>;
      },
      outputs: ([, m, v, vMax, delta]) => [m, v, vMax, delta],
    })),
  ),
  crossEntropyForward: (
    [
      [1, 1, 0],
      [50, 1003, 0],
      [50, 1003, 0.1],
      [9, 5, 0.2],
    ] as const
  ).map(([rows, classes, smoothing]) => ({
    label: `crossEntropyForward ${rows}×${classes} smoothing ${smoothing}`,
    dtypes: BOTH,
    tol: [1e-5, 1e-6] as const,
    args: (d: FloatDType) =>
      [
        values(d, rows * classes, 36, 4),
        ceSpec(rows, classes, smoothing),
        zeros(d, rows),
        { max: new Float64Array(rows), logSum: new Float64Array(rows) },
      ] as Parameters<HostKernels['crossEntropyForward']>,
    outputs: ([, , losses, stats], counted) => [losses, stats.max, stats.logSum, counted],
  })),
  crossEntropyBackward: (
    [
      [1, 1, 0],
      [50, 1003, 0],
      [9, 5, 0.2],
    ] as const
  ).map(([rows, classes, smoothing]) => ({
    label: `crossEntropyBackward ${rows}×${classes} smoothing ${smoothing}`,
    dtypes: BOTH,
    tol: [1e-7, 1e-5] as const,
    args: (d: FloatDType) => {
      const logits = values(d, rows * classes, 37, 4);
      const spec = ceSpec(rows, classes, smoothing);
      const stats = { max: new Float64Array(rows), logSum: new Float64Array(rows) };
      for (let r = 0; r < rows; r++) {
        let m = Number.NEGATIVE_INFINITY;
        for (let c = 0; c < classes; c++) m = Math.max(m, logits[r * classes + c]);
        let s = 0;
        for (let c = 0; c < classes; c++) s += Math.exp(logits[r * classes + c] - m);
        stats.max[r] = m;
        stats.logSum[r] = Math.log(s);
      }
      const rowGrad = new Float64Array(rows).map((_, i) => (i % 3) - 1);
      return [logits, spec, stats, rowGrad, zeros(d, rows * classes)] as Parameters<
        HostKernels['crossEntropyBackward']
      >;
    },
    outputs: ([, , , , dx]) => [dx],
  })),
  reduce: (
    [
      ['sum', [1], [0]],
      ['sum', [7, 13], [1]],
      ['sum', [3, 5, 7], [0, 2]],
      ['max', [4, 9], [0]],
      ['min', [4, 9], [1]],
      ['argmax', [5, 3, 2], [1]],
      ['argmin', [11], [0]],
    ] as const
  ).map(([op, shape, axes]) => ({
    label: `reduce ${op} [${shape}] over [${axes}]`,
    dtypes: BOTH,
    tol: [1e-6, 1e-6] as const,
    args: (d: FloatDType) =>
      [
        op,
        values(
          d,
          shape.reduce((a: number, b: number) => a * b, 1),
          38,
        ),
        shape,
        axes,
      ] as Parameters<HostKernels['reduce']>,
    outputs: (_args, result) => [result],
  })),
  indexSelect: (
    [
      [1, 1, 1, 1],
      [3, 10, 5, 7],
      [2, 4, 1, 9],
    ] as const
  ).map(([outer, dim, inner, n]) => ({
    label: `indexSelect [${outer}, ${dim}, ${inner}] picking ${n}`,
    dtypes: BOTH,
    tol: [0, 0] as const,
    args: (d: FloatDType) =>
      [
        values(d, outer * dim * inner, 39),
        outer,
        dim,
        inner,
        ints(n, dim, 40),
        zeros(d, outer * n * inner),
      ] as Parameters<HostKernels['indexSelect']>,
    outputs: ([, , , , , out]) => [out],
  })),
  indexAdd: (
    [
      [1, 1, 1, 1],
      [3, 10, 5, 7],
      [2, 4, 1, 9],
    ] as const
  ).map(([outer, dim, inner, n]) => ({
    label: `indexAdd [${outer}, ${dim}, ${inner}] adding ${n} (repeats accumulate)`,
    dtypes: BOTH,
    tol: [1e-12, 1e-6] as const,
    args: (d: FloatDType) =>
      [
        values(d, outer * dim * inner, 41),
        outer,
        dim,
        inner,
        ints(n, dim, 42),
        values(d, outer * n * inner, 43),
      ] as Parameters<HostKernels['indexAdd']>,
    outputs: ([dst]) => [dst],
  })),
  gather: (
    [
      [[1], [1], [1], 0, 0],
      [[4, 6], [6, 1], [4, 3], 1, 0],
      [[4, 6], [1, 4], [2, 6], 0, 0],
      [[3, 5, 2], [10, 2, 1], [3, 4, 2], 1, 2],
    ] as [number[], number[], number[], number, number][]
  ).map(([shape, strides, indexShape, axis, offset]) => ({
    label: `gather [${shape}] strides [${strides}] axis ${axis} index [${indexShape}]`,
    dtypes: BOTH,
    tol: [0, 0] as const,
    args: (d: FloatDType) => {
      const n = indexShape.reduce((a, b) => a * b, 1);
      return [
        values(d, offset + shape.reduce((a, b) => a * b, 1), 44),
        strides,
        offset,
        axis,
        ints(n, shape[axis], 45),
        indexShape,
        zeros(d, n),
      ] as Parameters<HostKernels['gather']>;
    },
    outputs: ([, , , , , , out]) => [out],
  })),
  scatterAdd: (
    [
      [[1], [1], 0],
      [[4, 6], [4, 3], 1],
      [[4, 6], [2, 6], 0],
      [[3, 5, 2], [3, 4, 2], 1],
    ] as [number[], number[], number][]
  ).map(([shape, indexShape, axis]) => ({
    label: `scatterAdd [${shape}] axis ${axis} index [${indexShape}]`,
    dtypes: BOTH,
    tol: [1e-12, 1e-6] as const,
    args: (d: FloatDType) => {
      const n = indexShape.reduce((a, b) => a * b, 1);
      const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
      return [
        values(
          d,
          shape.reduce((a, b) => a * b, 1),
          46,
        ),
        strides,
        axis,
        ints(n, shape[axis], 47),
        indexShape,
        values(d, n, 48),
      ] as Parameters<HostKernels['scatterAdd']>;
    },
    outputs: ([dst]) => [dst],
  })),
  concat: (
    [
      [[1], 1, 1],
      [[3, 1, 5], 4, 7],
      [[2, 2], 1, 1],
    ] as [number[], number, number][]
  ).map(([sizes, outer, inner]) => ({
    label: `concat sizes [${sizes}] outer ${outer} inner ${inner}`,
    dtypes: BOTH,
    tol: [0, 0] as const,
    args: (d: FloatDType) => {
      const total = sizes.reduce((a, b) => a + b, 0);
      const parts = sizes.map((s, i) => values(d, outer * s * inner, 49 + i));
      return [parts, sizes, outer, inner, zeros(d, outer * total * inner)] as Parameters<HostKernels['concat']>;
    },
    outputs: ([, , , , out]) => [out],
  })),
  sort: (
    [
      [1, 1, 1, false],
      [3, 257, 1, true],
      [2, 9, 5, false],
    ] as const
  ).map(([outer, n, inner, descending]) => ({
    label: `sort [${outer}, ${n}, ${inner}] descending=${descending}`,
    dtypes: BOTH,
    tol: [0, 0] as const,
    args: (d: FloatDType) => {
      const x = values(d, outer * n * inner, 52);
      if (x.length > 20) x.set([Number.NaN, 0, -0, 1, 1, Number.POSITIVE_INFINITY], 10);
      return [x, outer, n, inner, descending, new Int32Array(outer * n * inner)] as Parameters<HostKernels['sort']>;
    },
    outputs: ([, , , , , indices]) => [indices],
  })),
  topk: (
    [
      [1, 1, 1, 1, true, true],
      [3, 257, 1, 5, true, true],
      [2, 9, 5, 4, false, false],
      [4, 16, 1, 16, true, false],
    ] as const
  ).map(([outer, n, inner, k, largest, sorted]) => ({
    label: `topk [${outer}, ${n}, ${inner}] k=${k} largest=${largest} sorted=${sorted}`,
    dtypes: BOTH,
    tol: [0, 0] as const,
    args: (d: FloatDType) =>
      [
        values(d, outer * n * inner, 53),
        outer,
        n,
        inner,
        k,
        largest,
        sorted,
        new Int32Array(outer * k * inner),
      ] as Parameters<HostKernels['topk']>,
    outputs: ([, , , , , , , indices]) => [indices],
  })),
  conv2dForward: CONV_GEOMETRIES.flatMap((c) =>
    [false, true].map((bias) => ({
      label: `conv2dForward N=${c.batch} C=${c.geo.channels} [${c.geo.height}, ${c.geo.width}] k [${c.geo.kernelH}, ${c.geo.kernelW}] groups ${c.groups} bias=${bias}`,
      dtypes: BOTH,
      tol: [1e-5, 1e-4] as const,
      args: (d: FloatDType) => {
        const { channels, height, width, kernelH, kernelW, outH, outW } = c.geo;
        const args = {
          x: values(d, c.batch * channels * height * width, 54),
          w: values(d, c.cOut * (channels / c.groups) * kernelH * kernelW, 55),
          ...c,
        };
        return [args, bias ? values(d, c.cOut, 56) : null, zeros(d, c.batch * c.cOut * outH * outW)] as Parameters<
          HostKernels['conv2dForward']
        >;
      },
      outputs: ([, , out]) => [out],
    })),
  ),
  conv2dBackward: CONV_GEOMETRIES.map((c) => ({
    label: `conv2dBackward N=${c.batch} C=${c.geo.channels} [${c.geo.height}, ${c.geo.width}] k [${c.geo.kernelH}, ${c.geo.kernelW}] groups ${c.groups}`,
    dtypes: BOTH,
    tol: [1e-5, 1e-4] as const,
    args: (d: FloatDType) => {
      const { channels, height, width, kernelH, kernelW, outH, outW } = c.geo;
      const x = values(d, c.batch * channels * height * width, 57);
      const w = values(d, c.cOut * (channels / c.groups) * kernelH * kernelW, 58);
      return [
        { x, w, ...c },
        values(d, c.batch * c.cOut * outH * outW, 59),
        zeros(d, x.length),
        zeros(d, w.length),
        zeros(d, c.cOut),
      ] as Parameters<HostKernels['conv2dBackward']>;
    },
    outputs: ([, , dx, dw, db]) => [dx, dw, db],
  })),
  maxPool2d: POOL_GEOMETRIES.map((g) => ({
    label: `maxPool2d C=${g.channels} [${g.height}, ${g.width}] k [${g.kernelH}, ${g.kernelW}]`,
    dtypes: BOTH,
    tol: [0, 0] as const,
    args: (d: FloatDType) => {
      const n = g.channels * g.outH * g.outW;
      return [values(d, g.channels * g.height * g.width, 60), g, zeros(d, n), new Int32Array(n)] as Parameters<
        HostKernels['maxPool2d']
      >;
    },
    outputs: ([, , out, argmax]) => [out, argmax],
  })),
  maxPool2dBackward: POOL_GEOMETRIES.map((g) => ({
    label: `maxPool2dBackward C=${g.channels} [${g.height}, ${g.width}] k [${g.kernelH}, ${g.kernelW}]`,
    dtypes: BOTH,
    tol: [0, 0] as const,
    args: (d: FloatDType) => {
      const n = g.channels * g.outH * g.outW;
      const argmax = ints(n, g.height * g.width, 61);
      return [values(d, n, 62), argmax, g, zeros(d, g.channels * g.height * g.width)] as Parameters<
        HostKernels['maxPool2dBackward']
      >;
    },
    outputs: ([, , , dx]) => [dx],
  })),
  meanPool: meanPoolGeometries().map((g) => ({
    label: `meanPool ${g.planes}×[${g.height}, ${g.width}] → [${g.rows.start.length}, ${g.cols.start.length}] divisor ${g.divisor}`,
    dtypes: BOTH,
    tol: [1e-7, 1e-6] as const,
    args: (d: FloatDType) =>
      [
        values(d, g.planes * g.height * g.width, 63),
        g,
        zeros(d, g.planes * g.rows.start.length * g.cols.start.length),
      ] as Parameters<HostKernels['meanPool']>,
    outputs: ([, , out]) => [out],
  })),
  meanPoolBackward: meanPoolGeometries().map((g) => ({
    label: `meanPoolBackward ${g.planes}×[${g.height}, ${g.width}] → [${g.rows.start.length}, ${g.cols.start.length}]`,
    dtypes: BOTH,
    tol: [1e-7, 1e-6] as const,
    args: (d: FloatDType) =>
      [
        values(d, g.planes * g.rows.start.length * g.cols.start.length, 64),
        g,
        zeros(d, g.planes * g.height * g.width),
      ] as Parameters<HostKernels['meanPoolBackward']>,
    outputs: ([, , dx]) => [dx],
  })),

  attentionForward: ATTENTION_CASES.map(([shape, causal, window, mask]) => ({
    label: `attentionForward [${shape}] causal=${causal} window=${window} mask=${mask}`,
    dtypes: BOTH,
    tol: [1e-5, 1e-5] as const,
    args: (d) => {
      const a = attentionArgs(d, shape, causal, window, mask);
      const { q, k, v, out, lse } = attentionInputs(d, a);
      return [a, q, k, v, out.fill(0), lse.fill(0)] as Parameters<HostKernels['attentionForward']>;
    },
    outputs: ([, , , , out, lse]) => [out, lse],
  })),
  attentionBackward: ATTENTION_CASES.map(([shape, causal, window, mask]) => ({
    label: `attentionBackward [${shape}] causal=${causal} window=${window} mask=${mask}`,
    dtypes: BOTH,
    tol: [2e-5, 1e-4] as const,
    args: (d) => {
      const a = attentionArgs(d, shape, causal, window, mask);
      const { q, k, v, out, lse } = attentionInputs(d, a);
      const dOut = values(d, out.length, 57);
      return [a, q, k, v, out, lse, dOut, zeros(d, q.length), zeros(d, k.length), zeros(d, v.length)] as Parameters<
        HostKernels['attentionBackward']
      >;
    },
    outputs: ([, , , , , , , dq, dk, dv]) => [dq, dk, dv],
  })),
  quantGemm: (
    [
      ['int8', 1, 7, 33, 8, true],
      ['int8', 9, 70, 65, 16, true],
      ['int4', 3, 9, 17, 5, true],
      ['int4', 8, 12, 31, 7, false],
      ['int8-channel', 1, 1, 1, 1, true],
      ['int8-channel', 5, 6, 40, 40, false],
    ] as const
  ).map(([format, m, rows, cols, groupSize, transW]) => ({
    label: `quantGemm ${format} m=${m} [${rows}×${cols}] group ${groupSize} transW=${transW}`,
    dtypes: BOTH,
    tol: [1e-5, 1e-5] as const,
    args: (d) => {
      const w = quantWeight(format, rows, cols, groupSize);
      return [
        { transW, m, x: values(d, m * (transW ? cols : rows), 58), w, y: zeros(d, m * (transW ? rows : cols)) },
      ] as Parameters<HostKernels['quantGemm']>;
    },
    outputs: ([g]) => [g.y],
  })),
  accumulateColumns: (
    [
      ['sum', 1, 1],
      ['sumSquares', 1, 1],
      ['sum', 7, 13],
      ['sumSquares', 40, 9],
    ] as const
  ).map(([op, rows, cols]) => ({
    label: `accumulateColumns ${op} [${rows}, ${cols}]`,
    dtypes: BOTH,
    tol: [0, 0] as const,
    args: (d: FloatDType) =>
      [op, values(d, rows * cols, 64), rows, cols, Float64Array.from(values('f64', cols, 65))] as Parameters<
        HostKernels['accumulateColumns']
      >,
    outputs: ([, , , , acc]) => [acc],
  })),
  obsPrune: (
    [
      [1, 1, 1, 0.5, null],
      [6, 20, 8, 0.5, null],
      [4, 12, 12, 0, null],
      [5, 16, 8, 0, [2, 4]],
      [3, 24, 16, 0, [4, 8]],
    ] as const
  ).map(([rows, cols, blockSize, sparsity, nm]) => ({
    label: `obsPrune [${rows}, ${cols}] block ${blockSize} ${nm ? `${nm[0]}:${nm[1]}` : `sparsity ${sparsity}`}`,
    dtypes: BOTH,
    tol: [0, 0] as const,
    args: (d: FloatDType) => {
      // An upper triangular factor with a diagonal well away from zero, as a Cholesky factor of H⁻¹ has.
      const hinv = values(d, cols * cols, 67, 0.3);
      for (let i = 0; i < cols; i++) {
        for (let j = 0; j < i; j++) hinv[i * cols + j] = 0;
        hinv[i * cols + i] = 1 + Math.abs(hinv[i * cols + i]);
      }
      const args = { w: values(d, rows * cols, 66), hinv, rows, cols, blockSize, sparsity, nm };
      return [args, new Uint8Array(rows * cols)] as Parameters<HostKernels['obsPrune']>;
    },
    outputs: ([args, keep]) => [args.w, keep],
  })),
  maskLowest: (
    [
      [1, 1, 1],
      [1, 40, 17],
      [3, 12, 0],
      [4, 9, 9],
      [2, 30, 29],
      [2, 70000, 40000],
    ] as const
  ).map(([groups, len, count]) => ({
    label: `maskLowest ${groups}×[${len}] count ${count}`,
    dtypes: BOTH,
    tol: [0, 0] as const,
    args: (d: FloatDType) => {
      const x = values(d, groups * len, 68);
      // Ties at the threshold and a NaN (which sorts last).
      if (x.length > 20) x.set([x[3], x[3], x[3], Number.NaN], 10);
      return [x, groups, len, count, new Uint8Array(groups * len)] as Parameters<HostKernels['maskLowest']>;
    },
    outputs: ([, , , , keep]) => [keep],
  })),
  sgdUpdate: [1, 7, 1003].flatMap((n) =>
    (
      [
        [false, 0, false, false],
        [true, 0.9, false, true],
        [true, 0.9, true, false],
        [false, 0.5, false, false],
      ] as const
    ).map(([decay, momentum, nesterov, first]) => ({
      label: `sgdUpdate n=${n} decay=${decay} momentum=${momentum} nesterov=${nesterov} first=${first}`,
      dtypes: BOTH,
      tol: [0, 0] as const,
      args: (d: FloatDType) =>
        [
          values(d, n, 59),
          values(d, n, 60, 0.01),
          momentum === 0 ? null : values(d, n, 61, 0.01),
          {
            decay,
            weightDecay: Math.fround(0.01),
            momentum: Math.fround(momentum),
            gradWeight: Math.fround(0.9),
            negLr: Math.fround(-0.05),
            nesterov,
            first,
          },
        ] as Parameters<HostKernels['sgdUpdate']>,
      outputs: ([param, , buffer]) => [param, buffer],
    })),
  ),
  vectorNorm: [1, 8, 1003].map((n) => ({
    label: `vectorNorm n=${n}`,
    dtypes: BOTH,
    tol: [0, 0] as const,
    args: (d: FloatDType) => [values(d, n, 62), zeros(d, 3), 1] as Parameters<HostKernels['vectorNorm']>,
    outputs: ([, out]) => [out],
  })),
  sampleSorted: (
    [
      [1, 1, 1, 0.5],
      [50, 0.7, 1, 0.3],
      [50, 1.3, 0.9, 0.99],
      [1003, 1, 0.5, 0],
    ] as const
  ).map(([n, temperature, topP, uniform]) => ({
    label: `sampleSorted n=${n} temperature ${temperature} topP ${topP}`,
    dtypes: BOTH,
    tol: [0, 0] as const,
    args: (d: FloatDType) =>
      [values(d, n, 63, 3).sort((a, b) => b - a), temperature, topP, uniform, new Int32Array(1)] as Parameters<
        HostKernels['sampleSorted']
      >,
    outputs: ([, , , , out]) => [out],
  })),
  // Shapes through every path of the kernel: tiny, wide (transposed), tall with QR first (rows >= 1.6 cols), square,
  // full and thin vectors, singular values alone, and a batch that spreads over the native threads.
  svdBatch: (
    [
      ['1 x 1', [[1, 1]], true, false],
      [
        '7x3 and 3x7 full',
        [
          [7, 3],
          [3, 7],
        ],
        true,
        true,
      ],
      [
        '40x9 qr first, 9x40 wide',
        [
          [40, 9],
          [9, 40],
        ],
        true,
        false,
      ],
      [
        '40x9 and 9x40 full',
        [
          [40, 9],
          [9, 40],
        ],
        true,
        true,
      ],
      ['37x37', [[37, 37]], true, false],
      [
        'values only',
        [
          [40, 9],
          [9, 40],
          [37, 37],
        ],
        false,
        false,
      ],
      [
        'batch of 6',
        [
          [70, 33],
          [33, 70],
          [50, 50],
          [12, 90],
          [64, 40],
          [5, 5],
        ],
        true,
        false,
      ],
    ] as const
  ).map(([label, shapes, vectors, full]) => ({
    label: `svdBatch ${label}`,
    dtypes: ['f64'] as const,
    tol: [1e-11, 0] as const,
    args: () =>
      [
        shapes.map(([m, n], i) => {
          const k = Math.min(m, n);
          return {
            a: values('f64', m * n, 64 + i) as Float64Array,
            m,
            n,
            full,
            s: new Float64Array(k),
            u: vectors ? new Float64Array(m * (full ? m : k)) : null,
            vt: vectors ? new Float64Array((full ? n : k) * n) : null,
          };
        }),
      ] as Parameters<HostKernels['svdBatch']>,
    outputs: ([jobs], failed) => [failed, ...jobs.flatMap((j) => [j.s, j.u, j.vt])],
  })),
};

/**
 * The gradient table: every differentiable op (each op name an ops/*.ts `record` call can write on the tape) with
 * inputs small enough for central differences. `inputs` are shapes; `positive` keeps values away from a domain's edge.
 */
export interface GradCase {
  label: string;
  inputs: number[][];
  positive?: boolean;
  fn: (...xs: Tensor[]) => Tensor;
}

const idx = (values: number[], shape: number[] = [values.length]) => tensor(values, shape, { dtype: 'i32' });

export const GRAD_CASES: GradCase[] = [
  { label: 'add (broadcast)', inputs: [[3, 4], [4]], fn: (a, b) => ops.add(a, b) },
  {
    label: 'sub (broadcast)',
    inputs: [
      [3, 1],
      [3, 4],
    ],
    fn: (a, b) => ops.sub(a, b),
  },
  {
    label: 'mul (broadcast)',
    inputs: [
      [2, 3],
      [1, 3],
    ],
    fn: (a, b) => ops.mul(a, b),
  },
  { label: 'div', inputs: [[5], [5]], positive: true, fn: (a, b) => ops.div(a, b) },
  { label: 'pow', inputs: [[4], [4]], positive: true, fn: (a, b) => ops.pow(a, b) },
  { label: 'maximum', inputs: [[7], [7]], fn: (a, b) => ops.maximum(a, b) },
  { label: 'minimum', inputs: [[7], [7]], fn: (a, b) => ops.minimum(a, b) },
  { label: 'where', inputs: [[6], [6]], fn: (a, b) => ops.where(ops.gt(a, b), a, b) },
  { label: 'neg', inputs: [[5]], fn: (a) => ops.neg(a) },
  { label: 'exp', inputs: [[5]], fn: (a) => ops.exp(a) },
  { label: 'log', inputs: [[5]], positive: true, fn: (a) => ops.log(a) },
  { label: 'sqrt', inputs: [[5]], positive: true, fn: (a) => ops.sqrt(a) },
  { label: 'rsqrt', inputs: [[5]], positive: true, fn: (a) => ops.rsqrt(a) },
  { label: 'abs', inputs: [[5]], fn: (a) => ops.abs(a) },
  { label: 'sign (zero gradient)', inputs: [[5]], fn: (a) => ops.mul(ops.sign(a), a) },
  { label: 'clamp', inputs: [[9]], fn: (a) => ops.clamp(a, { min: -0.5, max: 0.7 }) },
  { label: 'relu', inputs: [[9]], fn: (a) => ops.relu(a) },
  { label: 'silu', inputs: [[9]], fn: (a) => ops.silu(a) },
  { label: 'gelu (erf)', inputs: [[9]], fn: (a) => ops.gelu(a) },
  { label: 'gelu (tanh)', inputs: [[9]], fn: (a) => ops.gelu(a, { approximate: 'tanh' }) },
  { label: 'softplus', inputs: [[9]], fn: (a) => ops.softplus(a) },
  { label: 'logSigmoid', inputs: [[9]], fn: (a) => ops.logSigmoid(a) },
  { label: 'sigmoid', inputs: [[9]], fn: (a) => ops.sigmoid(a) },
  { label: 'tanh', inputs: [[9]], fn: (a) => ops.tanh(a) },
  {
    label: 'scaledDotProductAttention (causal GQA)',
    inputs: [
      [1, 4, 3, 2],
      [1, 2, 3, 2],
      [1, 2, 3, 2],
    ],
    fn: (q, k, v) => ops.scaledDotProductAttention(q, k, v, { causal: true }),
  },
  {
    label: 'conv1d (groups, bias, padding)',
    inputs: [[1, 4, 6], [4, 2, 3], [4]],
    fn: (x, w, b) => ops.conv1d(x, w, b, { padding: 1, groups: 2 }),
  },
  {
    label: 'conv2d (stride, dilation)',
    inputs: [[2, 2, 5, 4], [3, 2, 2, 2], [3]],
    fn: (x, w, b) => ops.conv2d(x, w, b, { stride: [2, 1], dilation: [1, 2] }),
  },
  {
    label: 'dropout (seeded mask)',
    inputs: [[10]],
    fn: (x) => ops.dropout(x, { p: 0.3, rng: new Rng(7) }),
  },
  { label: 'embedding / indexSelect', inputs: [[5, 3]], fn: (w) => ops.embedding(w, idx([4, 0, 4, 2])) },
  { label: 'indexSelect (axis 1)', inputs: [[2, 5, 2]], fn: (x) => ops.indexSelect(x, 1, idx([3, 3, 0])) },
  {
    label: 'indexAdd',
    inputs: [
      [4, 3],
      [2, 3],
    ],
    fn: (x, s) => ops.indexAdd(x, 0, idx([1, 1]), s),
  },
  { label: 'gather', inputs: [[3, 4]], fn: (x) => ops.gather(x, 1, idx([0, 3, 3, 1, 2, 2], [3, 2])) },
  {
    label: 'scatterAdd',
    inputs: [
      [3, 4],
      [3, 2],
    ],
    fn: (x, s) => ops.scatterAdd(x, 1, idx([0, 3, 3, 1, 2, 2], [3, 2]), s),
  },
  {
    label: 'concat',
    inputs: [
      [2, 3],
      [2, 1],
    ],
    fn: (a, b) => ops.concat([a, b], 1),
  },
  {
    label: 'crossEntropy (smoothing, ignored row)',
    inputs: [[4, 5]],
    fn: (x) => ops.crossEntropy(x, idx([1, -100, 4, 0]), { labelSmoothing: 0.1 }),
  },
  {
    label: 'matmul (batched, transposed view)',
    inputs: [
      [2, 3, 4],
      [2, 5, 4],
    ],
    fn: (a, b) => ops.matmul(a, ops.transpose(b)),
  },
  { label: 'linear', inputs: [[3, 4], [2, 4], [2]], fn: (x, w, b) => ops.linear(x, w, b) },
  {
    label: 'quantMatmul (int4 weight; the gradient reaches x only)',
    inputs: [[3, 5]],
    fn: (x) => ops.quantLinear(x, quantWeight('int4', 4, 5, 3)),
  },
  {
    // dX through the recorded op; dW into the sink is checked against the dense Linear in test/nn/quant-linear.test.ts.
    label: 'quantLinear with a weight-gradient sink (int8 weight, bias)',
    inputs: [[3, 5], [4]],
    fn: (x, b) => ops.quantLinear(x, quantWeight('int8', 4, 5, 2), b, ops.gradientSink([4, 5])),
  },
  { label: 'rmsNorm', inputs: [[3, 6], [6]], fn: (x, w) => ops.rmsNorm(x, w, { eps: 1e-5 }) },
  { label: 'layerNorm', inputs: [[3, 6], [6], [6]], fn: (x, w, b) => ops.layerNorm(x, w, b) },
  { label: 'maxPool1d', inputs: [[1, 2, 7]], fn: (x) => ops.maxPool1d(x, { kernelSize: 3, stride: 2, padding: 1 }) },
  { label: 'maxPool2d', inputs: [[1, 2, 4, 5]], fn: (x) => ops.maxPool2d(x, { kernelSize: 2 }) },
  { label: 'avgPool1d', inputs: [[1, 2, 7]], fn: (x) => ops.avgPool1d(x, { kernelSize: 3, stride: 2, padding: 1 }) },
  {
    label: 'avgPool2d',
    inputs: [[1, 2, 4, 5]],
    fn: (x) => ops.avgPool2d(x, { kernelSize: 3, stride: 2, padding: 1, countIncludePad: false }),
  },
  { label: 'adaptiveAvgPool1d', inputs: [[1, 2, 7]], fn: (x) => ops.adaptiveAvgPool1d(x, 3) },
  { label: 'adaptiveAvgPool2d', inputs: [[1, 2, 5, 4]], fn: (x) => ops.adaptiveAvgPool2d(x, [2, 3]) },
  { label: 'sum (axes)', inputs: [[2, 3, 4]], fn: (x) => ops.sum(x, { axis: [0, 2] }) },
  { label: 'mean', inputs: [[3, 4]], fn: (x) => ops.mean(x, { axis: 1, keepdim: true }) },
  { label: 'max', inputs: [[3, 4]], fn: (x) => ops.max(x, { axis: 1 }) },
  { label: 'min', inputs: [[3, 4]], fn: (x) => ops.min(x, { axis: 0 }) },
  { label: 'variance', inputs: [[3, 4]], fn: (x) => ops.variance(x, { axis: 1 }) },
  { label: 'norm', inputs: [[3, 4]], fn: (x) => ops.norm(x, { axis: 1 }) },
  {
    label: 'applyRotary',
    inputs: [[1, 2, 3, 4]],
    fn: (x) => {
      const { cos, sin } = ops.ropeCosSin([0, 1, 2], 4);
      return ops.applyRotary(x, cos, sin);
    },
  },
  { label: 'softmax (middle axis)', inputs: [[2, 4, 3]], fn: (x) => ops.softmax(x, { axis: 1 }) },
  { label: 'logSoftmax', inputs: [[3, 5]], fn: (x) => ops.logSoftmax(x) },
  { label: 'sort values', inputs: [[2, 5]], fn: (x) => ops.sort(x, { descending: true }).values },
  { label: 'topk values', inputs: [[2, 6]], fn: (x) => ops.topk(x, 2).values },
  { label: 'contiguous of a permuted view', inputs: [[2, 3, 4]], fn: (x) => ops.contiguous(ops.permute(x, [2, 0, 1])) },
  { label: 'reshape', inputs: [[2, 6]], fn: (x) => ops.reshape(x, [3, 4]) },
  { label: 'slice (step 2)', inputs: [[3, 7]], fn: (x) => ops.slice(x, 1, 1, 7, 2) },
  { label: 'expand', inputs: [[3, 1]], fn: (x) => ops.expand(x, [3, 4]) },
];
