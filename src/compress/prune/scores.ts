import { allocate, kernelsFor, stridedOperand } from '../../backends/kernels.js';
import { noGrad } from '../../engine/autograd.js';
import { broadcastStrides } from '../../engine/shape.js';
import { asFloat, Tensor } from '../../engine/tensor.js';
import { abs, sqrt } from '../../ops/elementwise.js';
import { PruneError } from './errors.js';

/** W: [out, in] as a float tensor plus its sizes; throws unless it is a matrix. */
export function readWeight(w: Tensor, op: string): { values: Tensor; rows: number; cols: number } {
  if (w.rank !== 2) throw new PruneError(`${op}: expected a weight matrix [out, in], got shape [${w.shape}]`);
  return { values: asFloat(w), rows: w.shape[0], cols: w.shape[1] };
}

/** Magnitude scores |W_ij|: [out, in], f32. */
export function magnitudeScores(w: Tensor): Tensor {
  const { values } = readWeight(w, 'magnitudeScores');
  return noGrad(() => abs(values).to('f32'));
}

/**
 * Wanda scores |W_ij| · ‖X_j‖₂: [out, in], f32. inputNormsSq[j] = Σ_tokens x_j² (InputStats.normsSq): [in], f64.
 * Each score is computed in f64 and rounded once, so it equals the f64 formula cast to f32.
 */
export function wandaScores(w: Tensor, inputNormsSq: Tensor): Tensor {
  const { values, cols } = readWeight(w, 'wandaScores');
  if (inputNormsSq.rank !== 1 || inputNormsSq.size !== cols) {
    throw new PruneError(`wandaScores: input norms of shape [${inputNormsSq.shape}] for ${cols} input columns`);
  }
  return noGrad(() => {
    const magnitudes = abs(values);
    const norms = sqrt(inputNormsSq.to('f64'));
    // The product of the f64 operands rounded straight into f32: one pass, no f64 copy of the layer.
    const out = allocate('f32', magnitudes.size);
    kernelsFor('f32').binary(
      'mul',
      out,
      magnitudes.shape,
      stridedOperand(magnitudes),
      stridedOperand(norms, broadcastStrides(norms.shape, norms.strides, magnitudes.shape)),
    );
    return new Tensor(out, magnitudes.shape, 'f32');
  });
}
