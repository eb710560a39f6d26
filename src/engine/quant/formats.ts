/**
 * Quantised storage formats, one traits entry each (in the manner of ggml's type traits): how many elements a block
 * (group) holds, how many bytes it takes, and the reference quantise and dequantise of one block.
 *
 * A weight [rows, cols] is cut into groups of `groupSize` contiguous elements along each row. Groups never cross rows:
 * when cols is not a multiple of groupSize, the last group of each row is shorter. Each group has one f32 scale and,
 * for the asymmetric formats, one integer zero point. Codes are stored row by row, `codeStride(cols)` code slots a row;
 * int4 packs two codes a byte, low nibble first, so a row of odd length ends in a half-used byte.
 *
 * Rounding to nearest is round half to even (as torch.round and C's nearbyint), on the f32 quotient w/s.
 */
import { DTypeError } from '../errors.js';
import type { Rng } from '../rng.js';

/** 'int8', 'int4': asymmetric unsigned, per group; 'int8-channel': symmetric signed, one scale per row. */
export const QUANT_FORMATS = ['int8', 'int4', 'int8-channel'] as const;
export type QuantFormat = (typeof QUANT_FORMATS)[number];

export type Rounding = 'nearest' | 'stochastic';

/** Elements per group unless the caller chooses (Q-GaLore's 256). */
export const DEFAULT_GROUP_SIZE = 256;

/** Round half to even, as torch.round and C's nearbyint in the default rounding mode. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Where one block's values come from and its codes go: codes at slots codeStart..codeStart+len of the code array. */
export interface BlockIo {
  values: ArrayLike<number>;
  start: number;
  len: number;
  codes: Uint8Array | Int8Array;
  codeStart: number;
}

/** How one block's scaled values become integers: round half to even, or floor(x) + [u < x − floor(x)] with u ~ U[0,1). */
export interface BlockRounding {
  mode: Rounding;
  rng: Rng | null;
}

export interface QuantFormatTraits {
  readonly name: QuantFormat;
  readonly bits: 8 | 4;
  /** Codes are signed (Int8Array) and there is no zero point. */
  readonly symmetric: boolean;
  /** One group per row whatever groupSize says. */
  readonly perRow: boolean;
  /** Code slots per row (int4 pads an odd row to whole bytes). */
  codeStride(cols: number): number;
  /** Bytes of one full block of `groupSize` elements: codes, f32 scale and u8 zero point. */
  bytesPerBlock(groupSize: number): number;
  /** Quantise one block; returns its scale and zero point (0 for symmetric formats). */
  quantizeBlock(io: BlockIo, rounding: BlockRounding): { scale: number; zero: number };
  /** out[outStart + i] = scale·(code_i − zero) for the block's len elements, in f32. */
  dequantizeBlock(
    codes: Uint8Array | Int8Array,
    codeStart: number,
    len: number,
    scale: number,
    zero: number,
    out: Float32Array | Float64Array,
    outStart: number,
  ): void;
}

/** floor(x) + [u < x − floor(x)], u ~ U[0,1): unbiased, E = x. */
function roundStochastic(x: number, rng: Rng): number {
  const low = Math.floor(x);
  return low + (rng.uniform() < x - low ? 1 : 0);
}

/**
 * Writes round(values[start + i]/scale) + offset, clamped to [lo, hi], for the block's len elements: a byte each, or
 * (packed) a nibble each, low nibble first, keeping the other nibble of the byte.
 */
function writeCodes(
  io: BlockIo,
  rounding: BlockRounding,
  scale: number,
  offset: number,
  lo: number,
  hi: number,
  packed: boolean,
): void {
  const { values, start, len, codes, codeStart } = io;
  const rng = rounding.mode === 'stochastic' ? (rounding.rng as Rng) : null;
  for (let i = 0; i < len; i++) {
    const x = Math.fround(values[start + i] / scale);
    const q = Math.min(Math.max((rng ? roundStochastic(x, rng) : roundHalfEven(x)) + offset, lo), hi);
    const slot = codeStart + i;
    if (!packed) codes[slot] = q;
    else if (slot & 1) codes[slot >> 1] = (codes[slot >> 1] & 0x0f) | (q << 4);
    else codes[slot >> 1] = (codes[slot >> 1] & 0xf0) | q;
  }
}

/**
 * The asymmetric quantiser of Q-GaLore, with the group's range widened to contain 0 so that 0 is a code (q = z) and a
 * group whose values share one sign keeps its full resolution instead of collapsing:
 * s = max(max − min, 1e-5)/(2ᵇ − 1), z = clamp(−round(min/s), 0, 2ᵇ − 1), q = clamp(round(w/s) + z, 0, 2ᵇ − 1),
 * with s rounded to f32 and w/s computed as an f32 division.
 */
function quantizeAsymmetric(bits: 8 | 4) {
  const top = 2 ** bits - 1;
  return (io: BlockIo, rounding: BlockRounding) => {
    const { values, start, len } = io;
    let lo = 0;
    let hi = 0;
    for (let i = start; i < start + len; i++) {
      const w = values[i];
      if (w < lo) lo = w;
      if (w > hi) hi = w;
    }
    const scale = Math.fround(Math.max(Math.fround(hi - lo), 1e-5) / top);
    const zero = Math.min(Math.max(-roundHalfEven(Math.fround(lo / scale)), 0), top);
    writeCodes(io, rounding, scale, zero, 0, top, bits === 4);
    return { scale, zero };
  };
}

function dequantizeWith(read: (codes: BlockIo['codes'], slot: number) => number): QuantFormatTraits['dequantizeBlock'] {
  return (codes, codeStart, len, scale, zero, out, outStart) => {
    for (let i = 0; i < len; i++) out[outStart + i] = Math.fround(scale * (read(codes, codeStart + i) - zero));
  };
}

const readByte = (codes: BlockIo['codes'], slot: number) => codes[slot];
const readNibble = (codes: BlockIo['codes'], slot: number) => (codes[slot >> 1] >> ((slot & 1) * 4)) & 0x0f;

/** Symmetric signed int8: s = max|w|/127, q = clamp(round(w/s), −127, 127); an all-zero block has s = 0 and q = 0. */
function quantizeSymmetric(io: BlockIo, rounding: BlockRounding): { scale: number; zero: number } {
  const { values, start, len } = io;
  let amax = 0;
  for (let i = start; i < start + len; i++) amax = Math.max(amax, Math.abs(values[i]));
  const scale = Math.fround(amax / 127);
  if (scale > 0) writeCodes(io, rounding, scale, 0, -127, 127, false);
  else io.codes.fill(0, io.codeStart, io.codeStart + len);
  return { scale, zero: 0 };
}

/** The traits table, keyed by format name. */
export const FORMAT_TRAITS: Readonly<Record<QuantFormat, QuantFormatTraits>> = {
  int8: {
    name: 'int8',
    bits: 8,
    symmetric: false,
    perRow: false,
    codeStride: (cols) => cols,
    bytesPerBlock: (g) => g + 5,
    quantizeBlock: quantizeAsymmetric(8),
    dequantizeBlock: dequantizeWith(readByte),
  },
  int4: {
    name: 'int4',
    bits: 4,
    symmetric: false,
    perRow: false,
    codeStride: (cols) => cols + (cols & 1),
    bytesPerBlock: (g) => Math.ceil(g / 2) + 5,
    quantizeBlock: quantizeAsymmetric(4),
    dequantizeBlock: dequantizeWith(readNibble),
  },
  'int8-channel': {
    name: 'int8-channel',
    bits: 8,
    symmetric: true,
    perRow: true,
    codeStride: (cols) => cols,
    bytesPerBlock: (g) => g + 4,
    quantizeBlock: quantizeSymmetric,
    dequantizeBlock: dequantizeWith(readByte),
  },
};

/** The traits of a format, or a DTypeError naming the formats there are. */
export function formatTraits(format: string): QuantFormatTraits {
  const traits = (FORMAT_TRAITS as Record<string, QuantFormatTraits | undefined>)[format];
  if (!traits) throw new DTypeError(`unknown quantised format '${format}'; use ${QUANT_FORMATS.join(', ')}`);
  return traits;
}

/** A quantised [rows, cols] matrix as flat arrays: what kernels take. scales and zeros are [rows, groupsPerRow]. */
export interface QuantWeight {
  format: QuantFormat;
  rows: number;
  cols: number;
  /** Elements per group (cols for a per-row format). */
  groupSize: number;
  codes: Uint8Array | Int8Array;
  scales: Float32Array;
  /** Zero points, or null for a symmetric format. */
  zeros: Uint8Array | null;
}

export function groupsPerRow(w: Pick<QuantWeight, 'cols' | 'groupSize'>): number {
  return Math.ceil(w.cols / Math.max(w.groupSize, 1));
}

/** out[(r − rowStart)·cols + c] = ŵ[r, c] for rows rowStart..rowEnd: the reference dequantise of a tile of rows. */
export function dequantizeRows(
  w: QuantWeight,
  rowStart: number,
  rowEnd: number,
  out: Float32Array | Float64Array,
): void {
  const traits = FORMAT_TRAITS[w.format];
  const stride = traits.codeStride(w.cols);
  const groups = groupsPerRow(w);
  for (let r = rowStart; r < rowEnd; r++) {
    for (let g = 0; g < groups; g++) {
      const c0 = g * w.groupSize;
      const len = Math.min(w.groupSize, w.cols - c0);
      const block = r * groups + g;
      const zero = w.zeros ? w.zeros[block] : 0;
      traits.dequantizeBlock(w.codes, r * stride + c0, len, w.scales[block], zero, out, (r - rowStart) * w.cols + c0);
    }
  }
}
