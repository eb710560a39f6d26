import { allocate, allocateZeroed, kernelsFor, type StorageHandle, stridedOperand } from '../../backends/kernels.js';
import { asFloat, Tensor } from '../../engine/tensor.js';
import { mul } from '../../ops/elementwise.js';
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
  /** Σ over tokens of x_j², per input column j: [in], f64, accumulated in place batch by batch. */
  readonly normsSq: Tensor;
  private tokenCount = 0;
  /** Σ x xᵀ: [in, in], f64; null unless the Hessian was requested. */
  private readonly gram: Tensor | null;
  /** One batch's XᵀX from the f32 GEMM, reused across batches. */
  private readonly batchGram: StorageHandle | null;

  constructor(columns: number, options: InputStatsOptions = {}) {
    if (!Number.isInteger(columns) || columns <= 0) throw new PruneError(`InputStats: bad column count ${columns}`);
    this.columns = columns;
    this.normsSq = new Tensor(allocateZeroed('f64', columns), [columns], 'f64');
    const wantHessian = options.hessian ?? false;
    this.gram = wantHessian ? new Tensor(allocateZeroed('f64', columns * columns), [columns, columns], 'f64') : null;
    this.batchGram = wantHessian ? allocate('f32', columns * columns) : null;
  }

  /** Calibration tokens seen so far. */
  get tokens(): number {
    return this.tokenCount;
  }

  /** Add a batch of activations x: [..., in] (a tensor, or a Float32Array of tokens × in values). */
  add(x: Tensor | Float32Array): void {
    const cols = this.columns;
    if (!(x instanceof Float32Array) && x.shape[x.rank - 1] !== cols) {
      throw new PruneError(`InputStats: activations of shape [${x.shape}] do not end in ${cols} columns`);
    }
    const values = x instanceof Float32Array ? new Tensor(x, [x.length], 'f32') : asFloat(x);
    if (values.size % cols !== 0) throw new PruneError(`InputStats: ${values.size} values are not rows of ${cols}`);
    const tokens = values.size / cols;
    if (tokens === 0) return;
    const data = values.denseStorage();
    kernelsFor(values.dtype).accumulateColumns('sumSquares', data, tokens, cols, this.normsSq.denseStorage());
    if (this.gram && this.batchGram) {
      // XᵀX of the batch with the f32 GEMM, then summed in f64 so many batches lose nothing.
      const x32 = values.dtype === 'f32' ? data : values.to('f32').denseStorage();
      kernelsFor('f32').gemm({
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
      // gram += batchGram in place: an elementwise kernel reads each element of its operand before writing it.
      const gram = this.gram;
      const batch = new Tensor(this.batchGram, gram.shape, 'f32');
      kernelsFor('f64').binary('add', gram.denseStorage(), gram.shape, stridedOperand(gram), stridedOperand(batch));
    }
    this.tokenCount += tokens;
  }

  /**
   * H = (2/n) Σ x xᵀ: [in, in], f64, a fresh tensor. Equals SparseGPT's running-average update in exact
   * arithmetic. Throws when the Hessian was not requested or no token was seen.
   */
  hessian(): Tensor {
    if (!this.gram) throw new PruneError('InputStats: the Hessian was not requested (pass {hessian: true})');
    if (this.tokenCount === 0) throw new PruneError('InputStats: no calibration tokens were added');
    return mul(this.gram, 2 / this.tokenCount);
  }
}
