import type { FloatArray } from '../../engine/dtype.js';
import { asFloat, fromFloat, type Tensor } from '../../engine/tensor.js';
import { PruneError } from './errors.js';

/** W: [out, in] as float data plus its sizes; throws unless it is a matrix. */
export function readWeight(w: Tensor, op: string): { data: FloatArray; rows: number; cols: number } {
  if (w.rank !== 2) throw new PruneError(`${op}: expected a weight matrix [out, in], got shape [${w.shape}]`);
  return { data: asFloat(w).floatData(), rows: w.shape[0], cols: w.shape[1] };
}

/** Magnitude scores |W_ij|: [out, in], f32. */
export function magnitudeScores(w: Tensor): Tensor {
  const { data, rows, cols } = readWeight(w, 'magnitudeScores');
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < out.length; i++) out[i] = Math.abs(data[i]);
  return fromFloat(out, [rows, cols]);
}

/**
 * Wanda scores |W_ij| · ‖X_j‖₂: [out, in], f32. inputNormsSq[j] = Σ_tokens x_j² (InputStats.normsSq).
 * Each score is computed in f64 and rounded once, so it equals the f64 formula cast to f32.
 */
export function wandaScores(w: Tensor, inputNormsSq: Float64Array): Tensor {
  const { data, rows, cols } = readWeight(w, 'wandaScores');
  if (inputNormsSq.length !== cols) {
    throw new PruneError(`wandaScores: ${inputNormsSq.length} input norms for ${cols} input columns`);
  }
  const norms = inputNormsSq.map(Math.sqrt);
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let j = 0; j < cols; j++) out[base + j] = Math.abs(data[base + j]) * norms[j];
  }
  return fromFloat(out, [rows, cols]);
}
