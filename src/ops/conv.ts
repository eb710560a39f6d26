import { kernels, tsKernels } from '../backends/registry.js';
import { col2imTs, im2colTs, type WindowGeometry, windowOutputSize } from '../backends/ts/conv.js';
import { record } from '../engine/autograd.js';
import type { FloatArray } from '../engine/dtype.js';
import { DTypeError, ShapeError } from '../engine/errors.js';
import { asFloat, Tensor } from '../engine/tensor.js';
import { squeeze, unsqueeze } from './views.js';

/** A size per spatial axis: one number for both, or an [h, w] pair. */
export type Size2 = number | readonly [number, number];

export interface Conv1dOptions {
  stride?: number;
  padding?: number;
  dilation?: number;
  /** Split channels into this many independent groups; groups = in channels is depthwise. */
  groups?: number;
}

export interface Conv2dOptions {
  stride?: Size2;
  padding?: Size2;
  dilation?: Size2;
  /** Split channels into this many independent groups; groups = in channels is depthwise. */
  groups?: number;
}

/** Expand a Size2 into [h, w], each an integer >= min. */
export function pair(value: Size2, name: string, min: number, op: string): [number, number] {
  const hw: readonly number[] = typeof value === 'number' ? [value, value] : value;
  if (hw.length !== 2 || hw.some((v) => !Number.isInteger(v) || v < min)) {
    throw new ShapeError(`${op}: ${name} must be an integer >= ${min} or a pair of them, got ${JSON.stringify(value)}`);
  }
  return [hw[0], hw[1]];
}

/** The geometry of a window over [channels, height, width]; ShapeError when no window fits. */
export function windowGeometry(
  op: string,
  channels: number,
  [height, width]: readonly [number, number],
  [kernelH, kernelW]: readonly [number, number],
  [strideH, strideW]: readonly [number, number],
  [padH, padW]: readonly [number, number],
  [dilationH, dilationW]: readonly [number, number] = [1, 1],
): WindowGeometry {
  const outH = windowOutputSize(height, kernelH, strideH, padH, dilationH);
  const outW = windowOutputSize(width, kernelW, strideW, padW, dilationW);
  if (outH < 1 || outW < 1) {
    throw new ShapeError(
      `${op}: kernel [${kernelH}, ${kernelW}] (dilation [${dilationH}, ${dilationW}]) does not fit the padded input ` +
        `[${height + 2 * padH}, ${width + 2 * padW}]`,
    );
  }
  return { channels, height, width, kernelH, kernelW, strideH, strideW, padH, padW, dilationH, dilationW, outH, outW };
}

/** Run fn on a batched [N, C, ...spatial] input; an unbatched [C, ...spatial] one gets a batch axis of 1 and loses it again. */
export function withBatch(op: string, x: Tensor, spatialRank: number, fn: (batched: Tensor) => Tensor): Tensor {
  if (x.rank === spatialRank + 2) return fn(x);
  if (x.rank === spatialRank + 1) return squeeze(fn(unsqueeze(x, 0)), 0);
  throw new ShapeError(
    `${op} expects a rank ${spatialRank + 2} (or unbatched ${spatialRank + 1}) input, got [${x.shape}]`,
  );
}

/** 1-D convolution (cross-correlation, as PyTorch). x: [N, Cin, L], weight: [Cout, Cin/groups, K], bias: [Cout] -> [N, Cout, Lout]. */
export function conv1d(x: Tensor, weight: Tensor, bias?: Tensor | null, options: Conv1dOptions = {}): Tensor {
  if (weight.rank !== 3) throw new ShapeError(`conv1d weight must be [Cout, Cin/groups, K], got [${weight.shape}]`);
  const { stride = 1, padding = 0, dilation = 1, groups = 1 } = options;
  // A length-L signal is a 1 × L image.
  return withBatch('conv1d', x, 1, (x3) =>
    squeeze(
      convCore(
        'conv1d',
        unsqueeze(x3, 2),
        unsqueeze(weight, 2),
        bias ?? null,
        [1, stride],
        [0, padding],
        [1, dilation],
        groups,
      ),
      2,
    ),
  );
}

/** 2-D convolution (cross-correlation, as PyTorch). x: [N, Cin, H, W], weight: [Cout, Cin/groups, KH, KW], bias: [Cout] -> [N, Cout, OH, OW]. */
export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor | null, options: Conv2dOptions = {}): Tensor {
  if (weight.rank !== 4) {
    throw new ShapeError(`conv2d weight must be [Cout, Cin/groups, KH, KW], got [${weight.shape}]`);
  }
  const { stride = 1, padding = 0, dilation = 1, groups = 1 } = options;
  return withBatch('conv2d', x, 2, (x4) =>
    convCore('conv2d', x4, weight, bias ?? null, stride, padding, dilation, groups),
  );
}

/**
 * Convolution as GEMM: per image, out[g] = W[g] · im2col(x)[g] for each group g.
 * Gradients: dW[g] += dY[g] · cols[g]ᵀ, dx = col2im(W[g]ᵀ · dY[g]), db = dY summed over N and space.
 */
function convCore(
  op: string,
  xIn: Tensor,
  wIn: Tensor,
  bIn: Tensor | null,
  strideIn: Size2,
  paddingIn: Size2,
  dilationIn: Size2,
  groups: number,
): Tensor {
  const x = asFloat(xIn);
  const w = asFloat(wIn);
  const b = bIn ? asFloat(bIn) : null;
  if (w.dtype !== x.dtype || (b && b.dtype !== x.dtype)) {
    throw new DTypeError(
      `${op}: input, weight and bias must share a dtype, got ${x.dtype}, ${w.dtype}${b ? `, ${b.dtype}` : ''}`,
    );
  }
  // x: [N, C, H, W], w: [Cout, Cg, KH, KW]
  const [N, C, H, W] = x.shape;
  const [cOut, cg, kH, kW] = w.shape;
  if (!Number.isInteger(groups) || groups < 1 || C % groups !== 0 || cOut % groups !== 0) {
    throw new ShapeError(
      `${op}: groups = ${groups} must be a positive integer dividing in channels ${C} and out channels ${cOut}`,
    );
  }
  if (cg * groups !== C) {
    throw new ShapeError(
      `${op}: weight [${wIn.shape}] expects ${cg * groups} input channels (groups = ${groups}), input has ${C}`,
    );
  }
  if (b && (b.rank !== 1 || b.shape[0] !== cOut))
    throw new ShapeError(`${op}: bias must be [${cOut}], got [${b.shape}]`);
  const stride = pair(strideIn, 'stride', 1, op);
  const padding = pair(paddingIn, 'padding', 0, op);
  const geo = windowGeometry(op, C, [H, W], [kH, kW], stride, padding, pair(dilationIn, 'dilation', 1, op));

  const gemm = x.dtype === 'f64' ? tsKernels.gemm : kernels().gemm;
  const Ctor = x.dtype === 'f64' ? Float64Array : Float32Array;
  const xs = x.floatData();
  const ws = w.floatData();
  const spatial = geo.outH * geo.outW;
  const imageSize = C * H * W;
  const coutG = cOut / groups;
  const patch = cg * kH * kW;
  // A 1×1, stride-1, unpadded kernel's im2col is the image itself.
  const direct = kH === 1 && kW === 1 && stride[0] === 1 && stride[1] === 1 && padding[0] === 0 && padding[1] === 0;
  const columns = (n: number, scratch: FloatArray | null): { data: FloatArray; offset: number } => {
    if (!scratch) return { data: xs, offset: n * imageSize };
    im2colTs(xs, n * imageSize, geo, scratch);
    return { data: scratch, offset: 0 };
  };

  // out: [N, Cout, OH·OW]
  const out = new Ctor(N * cOut * spatial);
  const scratch = direct ? null : new Ctor(C * kH * kW * spatial);
  for (let n = 0; n < N; n++) {
    const cols = columns(n, scratch);
    gemm({
      transA: false,
      transB: false,
      m: coutG,
      n: spatial,
      k: patch,
      alpha: 1,
      beta: 0,
      a: ws,
      aOffset: 0,
      lda: patch,
      strideA: coutG * patch,
      b: cols.data,
      bOffset: cols.offset,
      ldb: spatial,
      strideB: patch * spatial,
      c: out,
      cOffset: n * cOut * spatial,
      ldc: spatial,
      strideC: coutG * spatial,
      batch: groups,
    });
  }
  if (b) {
    const bs = b.floatData();
    for (let n = 0; n < N; n++) {
      for (let co = 0; co < cOut; co++) {
        const base = (n * cOut + co) * spatial;
        for (let i = 0; i < spatial; i++) out[base + i] += bs[co];
      }
    }
  }

  const result = new Tensor(out, [N, cOut, geo.outH, geo.outW], x.dtype);
  const inputs = b ? [x, w, b] : [x, w];
  return record(result, op, inputs, (g) => {
    const gs = g.floatData();
    const dx = x.requiresGrad ? new Ctor(x.size) : null;
    const dw = w.requiresGrad ? new Ctor(w.size) : null;
    const colScratch = dw && !direct ? new Ctor(C * kH * kW * spatial) : null;
    const dcols = dx && !direct ? new Ctor(C * kH * kW * spatial) : null;
    for (let n = 0; n < N; n++) {
      const gOffset = n * cOut * spatial;
      if (dw) {
        const cols = columns(n, colScratch);
        gemm({
          transA: false,
          transB: true,
          m: coutG,
          n: patch,
          k: spatial,
          alpha: 1,
          beta: 1,
          a: gs,
          aOffset: gOffset,
          lda: spatial,
          strideA: coutG * spatial,
          b: cols.data,
          bOffset: cols.offset,
          ldb: spatial,
          strideB: patch * spatial,
          c: dw,
          cOffset: 0,
          ldc: patch,
          strideC: coutG * patch,
          batch: groups,
        });
      }
      if (dx) {
        // Without im2col the column gradient is the image gradient itself.
        gemm({
          transA: true,
          transB: false,
          m: patch,
          n: spatial,
          k: coutG,
          alpha: 1,
          beta: 0,
          a: ws,
          aOffset: 0,
          lda: patch,
          strideA: coutG * patch,
          b: gs,
          bOffset: gOffset,
          ldb: spatial,
          strideB: coutG * spatial,
          c: dcols ?? dx,
          cOffset: dcols ? 0 : n * imageSize,
          ldc: spatial,
          strideC: patch * spatial,
          batch: groups,
        });
        if (dcols) col2imTs(dcols, geo, dx, n * imageSize);
      }
    }
    const grads: (Tensor | null)[] = [dx && new Tensor(dx, x.shape, x.dtype), dw && new Tensor(dw, w.shape, w.dtype)];
    if (b) grads.push(b.requiresGrad ? new Tensor(biasGrad(gs, N, cOut, spatial, Ctor), b.shape, b.dtype) : null);
    return grads;
  });
}

/** db[co] = Σ over images and positions of dY[n, co, ·]. */
function biasGrad(
  gs: FloatArray,
  N: number,
  cOut: number,
  spatial: number,
  Ctor: new (n: number) => FloatArray,
): FloatArray {
  const db = new Ctor(cOut);
  for (let n = 0; n < N; n++) {
    for (let co = 0; co < cOut; co++) {
      const base = (n * cOut + co) * spatial;
      let s = 0;
      for (let i = 0; i < spatial; i++) s += gs[base + i];
      db[co] += s;
    }
  }
  return db;
}
