import type { FloatArray } from '../../engine/dtype.js';
import type { GemmKernel } from './gemm.js';

/**
 * Sliding-window kernels (convolution's im2col/col2im, pooling) on flat row-major arrays.
 * Every window op is 2-D; 1-D ops run with height 1.
 */

/** A window sliding over `channels` planes of height × width, with zero (or -inf) padding. */
export interface WindowGeometry {
  channels: number;
  height: number;
  width: number;
  kernelH: number;
  kernelW: number;
  strideH: number;
  strideW: number;
  padH: number;
  padW: number;
  dilationH: number;
  dilationW: number;
  outH: number;
  outW: number;
}

/** Output length along one axis, as PyTorch computes it (floor mode). */
export function windowOutputSize(size: number, kernel: number, stride: number, pad: number, dilation: number): number {
  return Math.floor((size + 2 * pad - dilation * (kernel - 1) - 1) / stride) + 1;
}

/**
 * Unfold one image x[xOffset..]: [channels, height, width] into
 * cols: [channels · kernelH · kernelW, outH · outW], padded positions reading 0.
 */
export function im2colTs(x: FloatArray, xOffset: number, geo: WindowGeometry, cols: FloatArray): void {
  const { height: H, width: W, outH: OH, outW: OW } = geo;
  const spatial = OH * OW;
  let row = 0;
  for (let c = 0; c < geo.channels; c++) {
    const plane = xOffset + c * H * W;
    for (let kh = 0; kh < geo.kernelH; kh++) {
      for (let kw = 0; kw < geo.kernelW; kw++, row++) {
        const colOffset = kw * geo.dilationW - geo.padW;
        for (let oh = 0; oh < OH; oh++) {
          const ih = oh * geo.strideH - geo.padH + kh * geo.dilationH;
          const dst = row * spatial + oh * OW;
          if (ih < 0 || ih >= H) {
            cols.fill(0, dst, dst + OW);
            continue;
          }
          const src = plane + ih * W;
          for (let ow = 0; ow < OW; ow++) {
            const iw = ow * geo.strideW + colOffset;
            cols[dst + ow] = iw >= 0 && iw < W ? x[src + iw] : 0;
          }
        }
      }
    }
  }
}

/** The adjoint of im2col: add cols: [channels · kernelH · kernelW, outH · outW] back into dx[dxOffset..]. */
export function col2imTs(cols: FloatArray, geo: WindowGeometry, dx: FloatArray, dxOffset: number): void {
  const { height: H, width: W, outH: OH, outW: OW } = geo;
  const spatial = OH * OW;
  let row = 0;
  for (let c = 0; c < geo.channels; c++) {
    const plane = dxOffset + c * H * W;
    for (let kh = 0; kh < geo.kernelH; kh++) {
      for (let kw = 0; kw < geo.kernelW; kw++, row++) {
        const colOffset = kw * geo.dilationW - geo.padW;
        for (let oh = 0; oh < OH; oh++) {
          const ih = oh * geo.strideH - geo.padH + kh * geo.dilationH;
          if (ih < 0 || ih >= H) continue;
          const src = row * spatial + oh * OW;
          const dst = plane + ih * W;
          for (let ow = 0; ow < OW; ow++) {
            const iw = ow * geo.strideW + colOffset;
            if (iw >= 0 && iw < W) dx[dst + iw] += cols[src + ow];
          }
        }
      }
    }
  }
}

/**
 * Max over each window of x: [channels, height, width] into out: [channels, outH, outW]; padding
 * never wins. argmax gets the winner's index within its plane (first on ties; NaN wins, as PyTorch).
 */
export function maxPool2dTs(x: FloatArray, geo: WindowGeometry, out: FloatArray, argmax: Int32Array): void {
  const { height: H, width: W, outH: OH, outW: OW } = geo;
  let o = 0;
  for (let c = 0; c < geo.channels; c++) {
    const plane = c * H * W;
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++, o++) {
        let best = Number.NEGATIVE_INFINITY;
        let at = -1;
        scan: for (let kh = 0; kh < geo.kernelH; kh++) {
          const ih = oh * geo.strideH - geo.padH + kh * geo.dilationH;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < geo.kernelW; kw++) {
            const iw = ow * geo.strideW - geo.padW + kw * geo.dilationW;
            if (iw < 0 || iw >= W) continue;
            const v = x[plane + ih * W + iw];
            if (at < 0 || v > best || Number.isNaN(v)) {
              best = v;
              at = ih * W + iw;
              if (Number.isNaN(v)) break scan;
            }
          }
        }
        out[o] = best;
        argmax[o] = at;
      }
    }
  }
}

/** Route each output gradient g: [channels, outH, outW] to its window's argmax in dx: [channels, height, width]. */
export function maxPool2dBackwardTs(g: FloatArray, argmax: Int32Array, geo: WindowGeometry, dx: FloatArray): void {
  const planeIn = geo.height * geo.width;
  const planeOut = geo.outH * geo.outW;
  for (let c = 0; c < geo.channels; c++) {
    for (let i = 0; i < planeOut; i++) {
      const o = c * planeOut + i;
      dx[c * planeIn + argmax[o]] += g[o];
    }
  }
}

/** Each output index's window [start[i], end[i]) along one axis, clipped to the input. */
export interface AxisWindows {
  start: Int32Array;
  end: Int32Array;
}

/** Windows of a strided, padded kernel (no dilation), as avg pooling slides them. */
export function stridedWindows(
  size: number,
  outSize: number,
  kernel: number,
  stride: number,
  pad: number,
): AxisWindows {
  const start = new Int32Array(outSize);
  const end = new Int32Array(outSize);
  for (let i = 0; i < outSize; i++) {
    const first = i * stride - pad;
    start[i] = Math.max(first, 0);
    end[i] = Math.min(first + kernel, size);
  }
  return { start, end };
}

/** Adaptive pooling's windows: [floor(i·size/out), ceil((i+1)·size/out)). */
export function adaptiveWindows(size: number, outSize: number): AxisWindows {
  const start = new Int32Array(outSize);
  const end = new Int32Array(outSize);
  for (let i = 0; i < outSize; i++) {
    start[i] = Math.floor((i * size) / outSize);
    end[i] = Math.ceil(((i + 1) * size) / outSize);
  }
  return { start, end };
}

/** The planes, input size and windows of a mean-pooling op; divisor null means each window's clipped size. */
export interface MeanPoolGeometry {
  planes: number;
  height: number;
  width: number;
  rows: AxisWindows;
  cols: AxisWindows;
  divisor: number | null;
}

/** Mean of x: [planes, height, width] over each window into out: [planes, rows, cols]. */
export function meanPoolTs(x: FloatArray, geo: MeanPoolGeometry, out: FloatArray): void {
  const { height: H, width: W, rows, cols } = geo;
  let o = 0;
  for (let c = 0; c < geo.planes; c++) {
    const plane = c * H * W;
    for (let oh = 0; oh < rows.start.length; oh++) {
      for (let ow = 0; ow < cols.start.length; ow++, o++) {
        let s = 0;
        for (let ih = rows.start[oh]; ih < rows.end[oh]; ih++) {
          for (let iw = cols.start[ow]; iw < cols.end[ow]; iw++) s += x[plane + ih * W + iw];
        }
        out[o] = s / (geo.divisor ?? (rows.end[oh] - rows.start[oh]) * (cols.end[ow] - cols.start[ow]));
      }
    }
  }
}

/** The adjoint of meanPoolTs: spread g: [planes, rows, cols] evenly over each window, adding into dx: [planes, height, width]. */
export function meanPoolBackwardTs(g: FloatArray, geo: MeanPoolGeometry, dx: FloatArray): void {
  const { height: H, width: W, rows, cols } = geo;
  let o = 0;
  for (let c = 0; c < geo.planes; c++) {
    const plane = c * H * W;
    for (let oh = 0; oh < rows.start.length; oh++) {
      for (let ow = 0; ow < cols.start.length; ow++, o++) {
        const share = g[o] / (geo.divisor ?? (rows.end[oh] - rows.start[oh]) * (cols.end[ow] - cols.start[ow]));
        for (let ih = rows.start[oh]; ih < rows.end[oh]; ih++) {
          for (let iw = cols.start[ow]; iw < cols.end[ow]; iw++) dx[plane + ih * W + iw] += share;
        }
      }
    }
  }
}

/** One convolution: a batch of images x: [batch, channels, height, width] and weights w: [cOut, channels/groups, kernelH, kernelW]. */
export interface ConvArgs {
  x: FloatArray;
  w: FloatArray;
  batch: number;
  cOut: number;
  groups: number;
  geo: WindowGeometry;
}

/** The sizes a convolution's GEMMs work on, and whether im2col can be skipped. */
function convPlan({ cOut, groups, geo }: ConvArgs) {
  const { channels: C, height: H, width: W, kernelH: kH, kernelW: kW } = geo;
  const cg = C / groups;
  return {
    spatial: geo.outH * geo.outW,
    imageSize: C * H * W,
    coutG: cOut / groups,
    patch: cg * kH * kW,
    colsSize: C * kH * kW * geo.outH * geo.outW,
    // A 1×1, stride-1, unpadded kernel's im2col is the image itself.
    direct: kH === 1 && kW === 1 && geo.strideH === 1 && geo.strideW === 1 && geo.padH === 0 && geo.padW === 0,
  };
}

/** Image n's columns: the image itself when direct, else im2col into scratch. */
function columns(x: FloatArray, n: number, imageSize: number, geo: WindowGeometry, scratch: FloatArray | null) {
  if (!scratch) return { data: x, offset: n * imageSize };
  im2colTs(x, n * imageSize, geo, scratch);
  return { data: scratch, offset: 0 };
}

const sameKind = (x: FloatArray, n: number): FloatArray =>
  x instanceof Float64Array ? new Float64Array(n) : new Float32Array(n);

/**
 * Convolution as GEMM: per image, out[g] = W[g] · im2col(x)[g] for each group g, plus bias[co].
 * out: [batch, cOut, outH · outW]; gemm is the chain's GEMM for this dtype.
 */
export function conv2dForwardTs(args: ConvArgs, bias: FloatArray | null, out: FloatArray, gemm: GemmKernel): void {
  const { x, w, batch: N, cOut, groups, geo } = args;
  const { spatial, imageSize, coutG, patch, colsSize, direct } = convPlan(args);
  const scratch = direct ? null : sameKind(x, colsSize);
  for (let n = 0; n < N; n++) {
    const cols = columns(x, n, imageSize, geo, scratch);
    gemm({
      transA: false,
      transB: false,
      m: coutG,
      n: spatial,
      k: patch,
      alpha: 1,
      beta: 0,
      a: w,
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
  if (bias) {
    for (let n = 0; n < N; n++) {
      for (let co = 0; co < cOut; co++) {
        const base = (n * cOut + co) * spatial;
        for (let i = 0; i < spatial; i++) out[base + i] += bias[co];
      }
    }
  }
}

/**
 * Convolution's gradients from g: [batch, cOut, outH · outW] into the zeroed dx, dw, db that are not null:
 * dW[g] += dY[g] · cols[g]ᵀ, dx = col2im(W[g]ᵀ · dY[g]), db = dY summed over images and space.
 */
export function conv2dBackwardTs(
  args: ConvArgs,
  g: FloatArray,
  dx: FloatArray | null,
  dw: FloatArray | null,
  db: FloatArray | null,
  gemm: GemmKernel,
): void {
  const { x, w, batch: N, cOut, groups, geo } = args;
  const { spatial, imageSize, coutG, patch, colsSize, direct } = convPlan(args);
  const colScratch = dw && !direct ? sameKind(x, colsSize) : null;
  const dcols = dx && !direct ? sameKind(x, colsSize) : null;
  for (let n = 0; n < N; n++) {
    const gOffset = n * cOut * spatial;
    if (dw) {
      const cols = columns(x, n, imageSize, geo, colScratch);
      gemm({
        transA: false,
        transB: true,
        m: coutG,
        n: patch,
        k: spatial,
        alpha: 1,
        beta: 1,
        a: g,
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
        a: w,
        aOffset: 0,
        lda: patch,
        strideA: coutG * patch,
        b: g,
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
  if (db) {
    for (let n = 0; n < N; n++) {
      for (let co = 0; co < cOut; co++) {
        const base = (n * cOut + co) * spatial;
        let s = 0;
        for (let i = 0; i < spatial; i++) s += g[base + i];
        db[co] += s;
      }
    }
  }
}
