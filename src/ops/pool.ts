import {
  type AxisWindows,
  adaptiveWindows,
  allocateZeroed,
  type Handles,
  kernelsFor,
  type MeanPoolGeometry,
  stridedWindows,
  upload,
  type WindowGeometry,
} from '../backends/kernels.js';
import { record } from '../engine/autograd.js';
import { ShapeError } from '../engine/errors.js';
import { asFloat, Tensor } from '../engine/tensor.js';
import { pair, type Size2, windowGeometry, withBatch } from './conv.js';
import { squeeze, unsqueeze } from './views.js';

export interface Pool1dOptions {
  kernelSize: number;
  /** Defaults to kernelSize (non-overlapping windows). */
  stride?: number;
  padding?: number;
}

export interface Pool2dOptions {
  kernelSize: Size2;
  /** Defaults to kernelSize (non-overlapping windows). */
  stride?: Size2;
  padding?: Size2;
}

export interface AvgPool1dOptions extends Pool1dOptions {
  /** Divide by the whole kernel size (true) or only by the positions inside the input (false). */
  countIncludePad?: boolean;
}

export interface AvgPool2dOptions extends Pool2dOptions {
  /** Divide by the whole kernel size (true) or only by the positions inside the input (false). */
  countIncludePad?: boolean;
}

/** Max over windows, padding counting as -inf. x: [N, C, L] -> [N, C, Lout]. */
export function maxPool1d(x: Tensor, options: Pool1dOptions): Tensor {
  return withBatch('maxPool1d', x, 1, (x3) => squeeze(maxPoolCore('maxPool1d', unsqueeze(x3, 2), as2d(options)), 2));
}

/** Max over windows, padding counting as -inf; the gradient goes to each window's first maximum. x: [N, C, H, W] -> [N, C, OH, OW]. */
export function maxPool2d(x: Tensor, options: Pool2dOptions): Tensor {
  return withBatch('maxPool2d', x, 2, (x4) => maxPoolCore('maxPool2d', x4, options));
}

/** Mean over windows, zero padding. x: [N, C, L] -> [N, C, Lout]. */
export function avgPool1d(x: Tensor, options: AvgPool1dOptions): Tensor {
  const countIncludePad = options.countIncludePad ?? true;
  return withBatch('avgPool1d', x, 1, (x3) =>
    squeeze(avgPoolCore('avgPool1d', unsqueeze(x3, 2), as2d(options), countIncludePad), 2),
  );
}

/** Mean over windows, zero padding. x: [N, C, H, W] -> [N, C, OH, OW]. */
export function avgPool2d(x: Tensor, options: AvgPool2dOptions): Tensor {
  const countIncludePad = options.countIncludePad ?? true;
  return withBatch('avgPool2d', x, 2, (x4) => avgPoolCore('avgPool2d', x4, options, countIncludePad));
}

/** Mean over outputSize near-equal windows, as torch's adaptive_avg_pool1d. x: [N, C, L] -> [N, C, outputSize]. */
export function adaptiveAvgPool1d(x: Tensor, outputSize: number): Tensor {
  return withBatch('adaptiveAvgPool1d', x, 1, (x3) =>
    squeeze(adaptiveCore('adaptiveAvgPool1d', unsqueeze(x3, 2), [1, outputSize]), 2),
  );
}

/** Mean over a grid of near-equal windows (outputSize 1 is global average pooling). x: [N, C, H, W] -> [N, C, OH, OW]. */
export function adaptiveAvgPool2d(x: Tensor, outputSize: Size2): Tensor {
  return withBatch('adaptiveAvgPool2d', x, 2, (x4) => adaptiveCore('adaptiveAvgPool2d', x4, outputSize));
}

/** A 1-D window as a 1 × k one. */
function as2d(options: Pool1dOptions): Pool2dOptions {
  return {
    kernelSize: [1, options.kernelSize],
    stride: [1, options.stride ?? options.kernelSize],
    padding: [0, options.padding ?? 0],
  };
}

/** Window geometry over the N·C planes of x: [N, C, H, W]; padding may be at most half the kernel, as PyTorch. */
function poolGeometry(op: string, x: Tensor, options: Pool2dOptions): WindowGeometry {
  const kernel = pair(options.kernelSize, 'kernelSize', 1, op);
  const stride = pair(options.stride ?? kernel, 'stride', 1, op);
  const padding = pair(options.padding ?? 0, 'padding', 0, op);
  if (padding[0] > kernel[0] / 2 || padding[1] > kernel[1] / 2) {
    throw new ShapeError(`${op}: padding [${padding}] must be at most half the kernel [${kernel}]`);
  }
  const [N, C, H, W] = x.shape;
  return windowGeometry(op, N * C, [H, W], kernel, stride, padding);
}

function maxPoolCore(op: string, xIn: Tensor, options: Pool2dOptions): Tensor {
  const x = asFloat(xIn);
  const geo = poolGeometry(op, x, options);
  const outSize = geo.channels * geo.outH * geo.outW;
  const out = allocateZeroed(x.dtype, outSize);
  // argmax: [N·C, OH, OW], each winner's index within its plane.
  const argmax = allocateZeroed('i32', outSize);
  kernelsFor(x.dtype).maxPool2d(x.denseStorage(), geo, out, argmax);
  const result = new Tensor(out, [x.shape[0], x.shape[1], geo.outH, geo.outW], x.dtype);
  return record(result, op, [x], (g) => {
    const dx = allocateZeroed(x.dtype, x.size);
    kernelsFor(x.dtype).maxPool2dBackward(g.denseStorage(), argmax, geo, dx);
    return [new Tensor(dx, x.shape, x.dtype)];
  });
}

function avgPoolCore(op: string, x: Tensor, options: Pool2dOptions, countIncludePad: boolean): Tensor {
  const geo = poolGeometry(op, x, options);
  return meanPool(op, x, {
    planes: geo.channels,
    height: geo.height,
    width: geo.width,
    rows: stridedWindows(geo.height, geo.outH, geo.kernelH, geo.strideH, geo.padH),
    cols: stridedWindows(geo.width, geo.outW, geo.kernelW, geo.strideW, geo.padW),
    divisor: countIncludePad ? geo.kernelH * geo.kernelW : null,
  });
}

function adaptiveCore(op: string, x: Tensor, outputSize: Size2): Tensor {
  const [outH, outW] = pair(outputSize, 'outputSize', 1, op);
  const [N, C, H, W] = x.shape;
  if (H < 1 || W < 1) throw new ShapeError(`${op}: input [${x.shape}] has an empty spatial axis`);
  return meanPool(op, x, {
    planes: N * C,
    height: H,
    width: W,
    rows: adaptiveWindows(H, outH),
    cols: adaptiveWindows(W, outW),
    divisor: null,
  });
}

/** Windows computed on the host, as storage the pooling kernels read. */
function uploadWindows({ start, end }: AxisWindows): Handles<AxisWindows> {
  return { start: upload(start), end: upload(end) };
}

/** Average x: [N, C, H, W] over the geometry's windows; the gradient spreads evenly back over each window. */
function meanPool(op: string, xIn: Tensor, windows: MeanPoolGeometry): Tensor {
  const x = asFloat(xIn);
  const outShape = [x.shape[0], x.shape[1], windows.rows.start.length, windows.cols.start.length];
  const geo = { ...windows, rows: uploadWindows(windows.rows), cols: uploadWindows(windows.cols) };
  const out = allocateZeroed(x.dtype, geo.planes * windows.rows.start.length * windows.cols.start.length);
  kernelsFor(x.dtype).meanPool(x.denseStorage(), geo, out);
  return record(new Tensor(out, outShape, x.dtype), op, [x], (g) => {
    const dx = allocateZeroed(x.dtype, x.size);
    kernelsFor(x.dtype).meanPoolBackward(g.denseStorage(), geo, dx);
    return [new Tensor(dx, x.shape, x.dtype)];
  });
}
