import { isFloatCompute } from '../dtype.js';
import { ShapeError } from '../errors.js';
import { globalRng, type Rng } from '../rng.js';
import { Tensor } from '../tensor.js';
import {
  DEFAULT_GROUP_SIZE,
  dequantizeRows,
  formatTraits,
  groupsPerRow,
  type QuantFormat,
  type QuantWeight,
  type Rounding,
} from './formats.js';

export interface QuantizeOptions {
  /** Elements per group along the last axis (default 256); ignored by per-row formats. */
  groupSize?: number;
  /** 'nearest' (round half to even, the default) or 'stochastic'. */
  rounding?: Rounding;
  /** The generator stochastic rounding draws from (default: the global one, see manualSeed). */
  rng?: Rng;
}

/**
 * A 2-D weight [out, in] held as integer codes with per-group scales (and zero points): not a Tensor, since its
 * elements exist only once dequantised. `linear(x, q)` and `matmul(x, q.t())` take it directly; gradients flow to x
 * only, never to the codes.
 */
export class QuantizedTensor implements QuantWeight {
  readonly format: QuantFormat;
  /** Stored rows and columns: [out, in]. */
  readonly rows: number;
  readonly cols: number;
  readonly groupSize: number;
  readonly codes: Uint8Array | Int8Array;
  /** [rows, groupsPerRow] f32 scales. */
  readonly scales: Float32Array;
  /** [rows, groupsPerRow] zero points, or null for a symmetric format. */
  readonly zeros: Uint8Array | null;
  /** A transposed view ([in, out]): matmul(x, q.t()) is x · Wᵀ. */
  readonly transposed: boolean;

  constructor(w: QuantWeight, transposed = false) {
    const traits = formatTraits(w.format);
    const groups = groupsPerRow(w);
    const codeBytes = (w.rows * traits.codeStride(w.cols) * traits.bits) / 8;
    if (w.codes.length !== codeBytes || w.scales.length !== w.rows * groups) {
      throw new ShapeError(
        `${w.format} [${w.rows}, ${w.cols}] with groups of ${w.groupSize} needs ${codeBytes} code bytes and ` +
          `${w.rows * groups} scales, got ${w.codes.length} and ${w.scales.length}`,
      );
    }
    if (traits.symmetric !== (w.zeros === null) || (w.zeros && w.zeros.length !== w.scales.length)) {
      throw new ShapeError(`${w.format} needs ${traits.symmetric ? 'no zero points' : 'one zero point per scale'}`);
    }
    if (traits.symmetric !== w.codes instanceof Int8Array) {
      throw new ShapeError(`${w.format} codes must be ${traits.symmetric ? 'an Int8Array' : 'a Uint8Array'}`);
    }
    this.format = w.format;
    this.rows = w.rows;
    this.cols = w.cols;
    this.groupSize = w.groupSize;
    this.codes = w.codes;
    this.scales = w.scales;
    this.zeros = w.zeros;
    this.transposed = transposed;
  }

  /** The logical shape: [out, in], or [in, out] for a transposed view. */
  get shape(): readonly [number, number] {
    return this.transposed ? [this.cols, this.rows] : [this.rows, this.cols];
  }

  /** Bytes held: codes, scales and zero points. */
  get byteSize(): number {
    return this.codes.byteLength + this.scales.byteLength + (this.zeros ? this.zeros.byteLength : 0);
  }

  /** The transposed view, sharing codes and scales. */
  t(): QuantizedTensor {
    return new QuantizedTensor(this, !this.transposed);
  }
}

/**
 * Quantise a 2-D f32/f64 tensor [out, in] group by group along its rows (see formats.ts for the quantisers). A row
 * length that is not a multiple of groupSize leaves a shorter last group in each row.
 */
export function quantize(t: Tensor, format: QuantFormat = 'int8', options: QuantizeOptions = {}): QuantizedTensor {
  const traits = formatTraits(format);
  if (t.rank !== 2) throw new ShapeError(`quantize takes a 2-D weight [out, in], got [${t.shape}]`);
  const [rows, cols] = t.shape;
  const groupSize = traits.perRow ? cols : (options.groupSize ?? DEFAULT_GROUP_SIZE);
  if (!traits.perRow && !(Number.isInteger(groupSize) && groupSize >= 1)) {
    throw new ShapeError(`quantize: groupSize must be a positive integer, got ${groupSize}`);
  }
  const codeBytes = (rows * traits.codeStride(cols) * traits.bits) / 8;
  const groups = groupsPerRow({ cols, groupSize });
  const q = new QuantizedTensor({
    format,
    rows,
    cols,
    groupSize,
    codes: traits.symmetric ? new Int8Array(codeBytes) : new Uint8Array(codeBytes),
    scales: new Float32Array(rows * groups),
    zeros: traits.symmetric ? null : new Uint8Array(rows * groups),
  });
  requantize_(q, t, options);
  return q;
}

/**
 * Quantise `t` (f32/f64, q's stored shape [rows, cols]) into q's own codes, scales and zero points, in place: what an
 * optimiser keeping its weights quantised does after each update (Q-GaLore, with stochastic rounding).
 */
export function requantize_(q: QuantizedTensor, t: Tensor, options: Omit<QuantizeOptions, 'groupSize'> = {}): void {
  if (q.transposed) throw new ShapeError('requantize_ writes a stored [out, in] weight, not a transposed view');
  if (t.rank !== 2 || t.shape[0] !== q.rows || t.shape[1] !== q.cols) {
    throw new ShapeError(`requantize_: [${t.shape}] into ${q.format} [${q.rows}, ${q.cols}]`);
  }
  const traits = formatTraits(q.format);
  const { rows, cols, groupSize, codes, scales, zeros } = q;
  const values = isFloatCompute(t.dtype) ? t.floatData() : t.toArray();
  const stride = traits.codeStride(cols);
  const groups = groupsPerRow(q);
  const rounding = { mode: options.rounding ?? 'nearest', rng: options.rng ?? globalRng };
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < groups; g++) {
      const c0 = g * groupSize;
      const len = Math.min(groupSize, cols - c0);
      const io = { values, start: r * cols + c0, len, codes, codeStart: r * stride + c0 };
      const { scale, zero } = traits.quantizeBlock(io, rounding);
      scales[r * groups + g] = scale;
      if (zeros) zeros[r * groups + g] = zero;
    }
  }
}

/** The f32 tensor the codes stand for, in q's logical shape (a transposed view of [out, in] when q is transposed). */
export function dequantize(q: QuantizedTensor): Tensor {
  const out = new Float32Array(q.rows * q.cols);
  dequantizeRows(q, 0, q.rows, out);
  return q.transposed
    ? new Tensor(out, [q.cols, q.rows], 'f32', [1, q.cols])
    : new Tensor(out, [q.rows, q.cols], 'f32');
}

/** A quantised matrix's arrays as 1-D tensors sharing its memory: what state dicts and optimiser state hold. */
export interface QuantizedParts {
  codes: Tensor;
  scales: Tensor;
  /** null for a symmetric format. */
  zeros: Tensor | null;
}

/** q's codes (u8, or i8 for a symmetric format), scales (f32) and zero points (u8) as tensors over its own arrays. */
export function quantizedParts(q: QuantizedTensor): QuantizedParts {
  return {
    codes: new Tensor(q.codes, [q.codes.length], q.codes instanceof Int8Array ? 'i8' : 'u8'),
    scales: new Tensor(q.scales, [q.scales.length], 'f32'),
    zeros: q.zeros ? new Tensor(q.zeros, [q.zeros.length], 'u8') : null,
  };
}

/** The QuantizedTensor over the arrays of `parts` (contiguous tensors, no copy): quantizedParts' inverse. */
export function fromQuantizedParts(
  parts: QuantizedParts,
  shape: Pick<QuantWeight, 'format' | 'rows' | 'cols' | 'groupSize'>,
): QuantizedTensor {
  const symmetric = formatTraits(shape.format).symmetric;
  const array = (t: Tensor, dtype: string, what: string) => {
    if (t.dtype !== dtype) throw new ShapeError(`${shape.format} ${what} must be ${dtype}, got ${t.dtype}`);
    if (!t.isContiguous() || t.offset !== 0) throw new ShapeError('quantised parts must be whole contiguous tensors');
    return t.dataSync();
  };
  return new QuantizedTensor({
    ...shape,
    codes: array(parts.codes, symmetric ? 'i8' : 'u8', 'codes') as Uint8Array | Int8Array,
    scales: array(parts.scales, 'f32', 'scales') as Float32Array,
    zeros: parts.zeros ? (array(parts.zeros, 'u8', 'zero points') as Uint8Array) : null,
  });
}
