import { hostKernelsFor } from '../../backends/registry.js';
import { asFloat, type Tensor } from '../../engine/tensor.js';
import { PruneError } from './errors.js';

export interface InputStatsOptions {
  /** Also accumulate Σ x xᵀ for SparseGPT's Hessian (costs in² f64 and one GEMM per batch); default false. */
  hessian?: boolean;
}

/**
 * Calibration statistics of one Linear's inputs, fed batch by batch: the per-column sum of squares
 * Σ x_j² (Wanda, OWL) and optionally the Hessian H = (2/n) Σ x xᵀ (SparseGPT), n = tokens seen.
 */
export class InputStats {
  readonly columns: number;
  /** Σ over tokens of x_j², per input column j: [in], f64. */
  readonly normsSq: Float64Array;
  private tokenCount = 0;
  /** Σ x xᵀ: [in, in], f64; null unless the Hessian was requested. */
  private readonly gram: Float64Array | null;
  /** One batch's XᵀX from the f32 GEMM, reused across batches. */
  private readonly batchGram: Float32Array | null;

  constructor(columns: number, options: InputStatsOptions = {}) {
    if (!Number.isInteger(columns) || columns <= 0) throw new PruneError(`InputStats: bad column count ${columns}`);
    this.columns = columns;
    this.normsSq = new Float64Array(columns);
    const wantHessian = options.hessian ?? false;
    this.gram = wantHessian ? new Float64Array(columns * columns) : null;
    this.batchGram = wantHessian ? new Float32Array(columns * columns) : null;
  }

  /** Calibration tokens seen so far. */
  get tokens(): number {
    return this.tokenCount;
  }

  /** Add a batch of activations x: [..., in] (a tensor, or a Float32Array of tokens × in values). */
  add(x: Tensor | Float32Array): void {
    const data = x instanceof Float32Array ? x : asFloat(x).floatData();
    const cols = this.columns;
    if (!(x instanceof Float32Array) && x.shape[x.rank - 1] !== cols) {
      throw new PruneError(`InputStats: activations of shape [${x.shape}] do not end in ${cols} columns`);
    }
    if (data.length % cols !== 0) throw new PruneError(`InputStats: ${data.length} values are not rows of ${cols}`);
    const tokens = data.length / cols;
    if (tokens === 0) return;
    for (let t = 0; t < tokens; t++) {
      const base = t * cols;
      for (let j = 0; j < cols; j++) this.normsSq[j] += data[base + j] * data[base + j];
    }
    if (this.gram && this.batchGram) {
      // XᵀX of the batch with the f32 GEMM, then summed in f64 so many batches lose nothing.
      const x32 = data instanceof Float32Array ? data : Float32Array.from(data);
      hostKernelsFor('f32').gemm({
        transA: true,
        transB: false,
        m: cols,
        n: cols,
        k: tokens,
        alpha: 1,
        beta: 0,
        a: x32,
        aOffset: 0,
        lda: cols,
        strideA: 0,
        b: x32,
        bOffset: 0,
        ldb: cols,
        strideB: 0,
        c: this.batchGram,
        cOffset: 0,
        ldc: cols,
        strideC: 0,
        batch: 1,
      });
      for (let i = 0; i < this.gram.length; i++) this.gram[i] += this.batchGram[i];
    }
    this.tokenCount += tokens;
  }

  /**
   * H = (2/n) Σ x xᵀ: [in, in], f64, a fresh copy. Equals SparseGPT's running-average update in exact
   * arithmetic. Throws when the Hessian was not requested or no token was seen.
   */
  hessian(): Float64Array {
    if (!this.gram) throw new PruneError('InputStats: the Hessian was not requested (pass {hessian: true})');
    if (this.tokenCount === 0) throw new PruneError('InputStats: no calibration tokens were added');
    const scale = 2 / this.tokenCount;
    return this.gram.map((v) => v * scale);
  }
}
