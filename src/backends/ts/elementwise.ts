import type { FloatArray, Storage } from '../../engine/dtype.js';

export type BinaryOp =
  | 'add'
  | 'sub'
  | 'mul'
  | 'div'
  | 'pow'
  | 'maximum'
  | 'minimum'
  | 'eq'
  | 'ne'
  | 'lt'
  | 'le'
  | 'gt'
  | 'ge';

/** One operand of a strided kernel: storage, strides (already broadcast to the output), offset. */
export interface StridedOperand {
  data: Storage;
  strides: readonly number[];
  offset: number;
}

/** Merge adjacent axes that every operand walks contiguously, so a plain tensor becomes one flat loop. */
export function collapseAxes(
  shape: readonly number[],
  operands: readonly (readonly number[])[],
): {
  shape: number[];
  strides: number[][];
} {
  const outShape: number[] = [];
  const outStrides: number[][] = operands.map(() => []);
  for (let ax = 0; ax < shape.length; ax++) {
    const d = shape[ax];
    if (d === 1) continue;
    const last = outShape.length - 1;
    const mergeable = last >= 0 && operands.every((s, k) => outStrides[k][last] === s[ax] * d);
    if (mergeable) {
      outShape[last] *= d;
      operands.forEach((s, k) => {
        outStrides[k][last] = s[ax];
      });
    } else {
      outShape.push(d);
      operands.forEach((s, k) => {
        outStrides[k].push(s[ax]);
      });
    }
  }
  return { shape: outShape, strides: outStrides };
}

function binaryInner(
  op: BinaryOp,
  n: number,
  out: Storage,
  o: number,
  a: Storage,
  ai: number,
  sa: number,
  b: Storage,
  bi: number,
  sb: number,
): void {
  switch (op) {
    case 'add':
      for (let i = 0; i < n; i++, ai += sa, bi += sb) out[o + i] = a[ai] + b[bi];
      return;
    case 'sub':
      for (let i = 0; i < n; i++, ai += sa, bi += sb) out[o + i] = a[ai] - b[bi];
      return;
    case 'mul':
      for (let i = 0; i < n; i++, ai += sa, bi += sb) out[o + i] = a[ai] * b[bi];
      return;
    case 'div':
      for (let i = 0; i < n; i++, ai += sa, bi += sb) out[o + i] = a[ai] / b[bi];
      return;
    case 'pow':
      for (let i = 0; i < n; i++, ai += sa, bi += sb) out[o + i] = a[ai] ** b[bi];
      return;
    case 'maximum':
      for (let i = 0; i < n; i++, ai += sa, bi += sb) {
        const x = a[ai];
        const y = b[bi];
        out[o + i] = x >= y || Number.isNaN(x) ? x : y;
      }
      return;
    case 'minimum':
      for (let i = 0; i < n; i++, ai += sa, bi += sb) {
        const x = a[ai];
        const y = b[bi];
        out[o + i] = x <= y || Number.isNaN(x) ? x : y;
      }
      return;
    case 'eq':
      for (let i = 0; i < n; i++, ai += sa, bi += sb) out[o + i] = a[ai] === b[bi] ? 1 : 0;
      return;
    case 'ne':
      for (let i = 0; i < n; i++, ai += sa, bi += sb) out[o + i] = a[ai] !== b[bi] ? 1 : 0;
      return;
    case 'lt':
      for (let i = 0; i < n; i++, ai += sa, bi += sb) out[o + i] = a[ai] < b[bi] ? 1 : 0;
      return;
    case 'le':
      for (let i = 0; i < n; i++, ai += sa, bi += sb) out[o + i] = a[ai] <= b[bi] ? 1 : 0;
      return;
    case 'gt':
      for (let i = 0; i < n; i++, ai += sa, bi += sb) out[o + i] = a[ai] > b[bi] ? 1 : 0;
      return;
    case 'ge':
      for (let i = 0; i < n; i++, ai += sa, bi += sb) out[o + i] = a[ai] >= b[bi] ? 1 : 0;
      return;
  }
}

/**
 * out = a (op) b over a broadcast output shape. `out` is contiguous; each operand's strides are
 * already broadcast to the output shape (0 on broadcast axes).
 */
export function binaryTs(
  op: BinaryOp,
  out: Storage,
  shape: readonly number[],
  a: StridedOperand,
  b: StridedOperand,
): void {
  const { shape: cs, strides } = collapseAxes(shape, [a.strides, b.strides]);
  const [sa, sb] = strides;
  const rank = cs.length;
  if (rank === 0) {
    binaryInner(op, 1, out, 0, a.data, a.offset, 0, b.data, b.offset, 0);
    return;
  }
  const inner = cs[rank - 1];
  if (inner === 0) return;
  const idx = new Array<number>(rank).fill(0);
  let ai = a.offset;
  let bi = b.offset;
  let o = 0;
  for (;;) {
    binaryInner(op, inner, out, o, a.data, ai, sa[rank - 1], b.data, bi, sb[rank - 1]);
    o += inner;
    let ax = rank - 2;
    while (ax >= 0) {
      idx[ax]++;
      ai += sa[ax];
      bi += sb[ax];
      if (idx[ax] < cs[ax]) break;
      ai -= sa[ax] * cs[ax];
      bi -= sb[ax] * cs[ax];
      idx[ax] = 0;
      ax--;
    }
    if (ax < 0) return;
  }
}

/** out = cond ? a : b, every operand strided against the output shape. */
export function whereTs(
  out: Storage,
  shape: readonly number[],
  cond: StridedOperand,
  a: StridedOperand,
  b: StridedOperand,
): void {
  const { shape: cs, strides } = collapseAxes(shape, [cond.strides, a.strides, b.strides]);
  const rank = cs.length;
  const idx = new Array<number>(rank).fill(0);
  let ci = cond.offset;
  let ai = a.offset;
  let bi = b.offset;
  const n = out.length;
  for (let o = 0; o < n; o++) {
    out[o] = cond.data[ci] !== 0 ? a.data[ai] : b.data[bi];
    let ax = rank - 1;
    while (ax >= 0) {
      idx[ax]++;
      ci += strides[0][ax];
      ai += strides[1][ax];
      bi += strides[2][ax];
      if (idx[ax] < cs[ax]) break;
      ci -= strides[0][ax] * cs[ax];
      ai -= strides[1][ax] * cs[ax];
      bi -= strides[2][ax] * cs[ax];
      idx[ax] = 0;
      ax--;
    }
  }
}

export type UnaryOp =
  | 'neg'
  | 'exp'
  | 'log'
  | 'sqrt'
  | 'rsqrt'
  | 'abs'
  | 'sign'
  | 'relu'
  | 'sigmoid'
  | 'tanh'
  | 'silu'
  | 'geluTanh'
  | 'geluErf'
  | 'softplus'
  | 'logSigmoid';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const SQRT1_2 = Math.SQRT1_2;

/** erf to about 1e-13: a Taylor series near 0, Lentz's continued fraction for erfc beyond. */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    const x2 = ax * ax;
    let term = ax;
    let sum = ax;
    for (let n = 1; n < 200; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    const r = (2 / Math.sqrt(Math.PI)) * sum;
    return x < 0 ? -r : r;
  }
  if (ax > 6) return x < 0 ? -1 : 1;
  // erfc(x) = exp(-x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))), evaluated from the tail.
  let frac = ax;
  for (let k = 60; k >= 1; k--) frac = ax + k / 2 / frac;
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / frac;
  return x < 0 ? erfc - 1 : 1 - erfc;
}

/** log(1 + e^x) without overflow. */
export function softplusScalar(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

function sigmoidScalar(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** out[i] = op(x[i]) over contiguous arrays of equal length. */
export function unaryTs(op: UnaryOp, x: FloatArray, out: FloatArray): void {
  const n = x.length;
  switch (op) {
    case 'neg':
      for (let i = 0; i < n; i++) out[i] = -x[i];
      return;
    case 'exp':
      for (let i = 0; i < n; i++) out[i] = Math.exp(x[i]);
      return;
    case 'log':
      for (let i = 0; i < n; i++) out[i] = Math.log(x[i]);
      return;
    case 'sqrt':
      for (let i = 0; i < n; i++) out[i] = Math.sqrt(x[i]);
      return;
    case 'rsqrt':
      for (let i = 0; i < n; i++) out[i] = 1 / Math.sqrt(x[i]);
      return;
    case 'abs':
      for (let i = 0; i < n; i++) out[i] = Math.abs(x[i]);
      return;
    case 'sign':
      for (let i = 0; i < n; i++) out[i] = x[i] > 0 ? 1 : x[i] < 0 ? -1 : 0;
      return;
    case 'relu':
      for (let i = 0; i < n; i++) out[i] = Math.max(x[i], 0);
      return;
    case 'sigmoid':
      for (let i = 0; i < n; i++) out[i] = sigmoidScalar(x[i]);
      return;
    case 'tanh':
      for (let i = 0; i < n; i++) out[i] = Math.tanh(x[i]);
      return;
    case 'silu':
      for (let i = 0; i < n; i++) out[i] = x[i] * sigmoidScalar(x[i]);
      return;
    case 'geluTanh':
      for (let i = 0; i < n; i++) {
        const v = x[i];
        out[i] = 0.5 * v * (1 + Math.tanh(SQRT_2_OVER_PI * (v + 0.044715 * v * v * v)));
      }
      return;
    case 'geluErf':
      for (let i = 0; i < n; i++) out[i] = 0.5 * x[i] * (1 + erf(x[i] * SQRT1_2));
      return;
    case 'softplus':
      for (let i = 0; i < n; i++) out[i] = softplusScalar(x[i]);
      return;
    case 'logSigmoid':
      for (let i = 0; i < n; i++) out[i] = -softplusScalar(-x[i]);
      return;
  }
}

/**
 * dL/dx = g · op'(x) for the activations, over contiguous arrays. Ops whose derivative is
 * cheaper from the output (exp, sqrt, tanh, sigmoid) are handled by their op's gradient rule instead.
 */
export function unaryGradTs(
  op: 'relu' | 'silu' | 'geluTanh' | 'geluErf' | 'softplus' | 'logSigmoid',
  x: FloatArray,
  g: FloatArray,
  out: FloatArray,
): void {
  const n = x.length;
  switch (op) {
    case 'relu':
      for (let i = 0; i < n; i++) out[i] = x[i] > 0 ? g[i] : 0;
      return;
    case 'silu':
      for (let i = 0; i < n; i++) {
        const s = sigmoidScalar(x[i]);
        out[i] = g[i] * s * (1 + x[i] * (1 - s));
      }
      return;
    case 'geluTanh':
      for (let i = 0; i < n; i++) {
        const v = x[i];
        const u = SQRT_2_OVER_PI * (v + 0.044715 * v * v * v);
        const t = Math.tanh(u);
        const du = SQRT_2_OVER_PI * (1 + 3 * 0.044715 * v * v);
        out[i] = g[i] * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * du);
      }
      return;
    case 'geluErf':
      for (let i = 0; i < n; i++) {
        const v = x[i];
        const cdf = 0.5 * (1 + erf(v * SQRT1_2));
        const pdf = Math.exp(-0.5 * v * v) / Math.sqrt(2 * Math.PI);
        out[i] = g[i] * (cdf + v * pdf);
      }
      return;
    case 'softplus':
      for (let i = 0; i < n; i++) out[i] = g[i] * sigmoidScalar(x[i]);
      return;
    case 'logSigmoid':
      for (let i = 0; i < n; i++) out[i] = g[i] * sigmoidScalar(-x[i]);
      return;
  }
}
