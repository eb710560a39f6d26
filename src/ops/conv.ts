import { allocateZeroed, kernelsFor, type WindowGeometry, windowOutputSize } from '../backends/kernels.js';
import { record } from '../engine/autograd.js';
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

/** Convolution through the table's conv2dForward / conv2dBackward entries (im2col + GEMM on the host backends). */
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

  const args = { x: x.denseStorage(), w: w.denseStorage(), batch: N, cOut, groups, geo };
  // out: [N, Cout, OH·OW]
  const out = allocateZeroed(x.dtype, N * cOut * geo.outH * geo.outW);
  kernelsFor(x.dtype).conv2dForward(args, b ? b.denseStorage() : null, out);

  const result = new Tensor(out, [N, cOut, geo.outH, geo.outW], x.dtype);
  const inputs = b ? [x, w, b] : [x, w];
  return record(result, op, inputs, (g) => {
    const dx = x.requiresGrad ? allocateZeroed(x.dtype, x.size) : null;
    const dw = w.requiresGrad ? allocateZeroed(x.dtype, w.size) : null;
    const db = b?.requiresGrad ? allocateZeroed(x.dtype, cOut) : null;
    kernelsFor(x.dtype).conv2dBackward(args, g.denseStorage(), dx, dw, db);
    const grads: (Tensor | null)[] = [dx && new Tensor(dx, x.shape, x.dtype), dw && new Tensor(dw, w.shape, w.dtype)];
    if (b) grads.push(db && new Tensor(db, b.shape, b.dtype));
    return grads;
  });
}
