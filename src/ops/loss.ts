import { type CrossEntropyRows, kernelsFor, type RowStats } from '../backends/kernels.js';
import { record } from '../engine/autograd.js';
import { allocStorage, allocUninit, type FloatArray } from '../engine/dtype.js';
import { DTypeError, ShapeError } from '../engine/errors.js';
import { numel, shapesEqual } from '../engine/shape.js';
import { asFloat, Tensor } from '../engine/tensor.js';

export interface CrossEntropyOptions {
  /** Rows whose target equals this contribute 0 and are not counted in the mean. */
  ignoreIndex?: number;
  /** ε in [0, 1]: the target becomes (1−ε)·onehot + ε/C. */
  labelSmoothing?: number;
  reduction?: 'mean' | 'sum' | 'none';
}

/**
 * torch.nn.functional.cross_entropy with class indices, fused and max-shifted.
 * logits: [N, C] or [B, T, C] (the class axis is the last one; leading axes are rows);
 * targets: integer class indices, shaped like the leading axes or flat [N].
 * 'mean' divides by the number of non-ignored rows (NaN when there are none, as torch);
 * 'none' returns one loss per row, shaped like targets.
 */
export function crossEntropy(logitsInput: Tensor, targets: Tensor, options: CrossEntropyOptions = {}): Tensor {
  const logits = asFloat(logitsInput);
  const ignoreIndex = options.ignoreIndex ?? -100;
  const smoothing = options.labelSmoothing ?? 0;
  const reduction = options.reduction ?? 'mean';
  if (targets.dtype !== 'i32' && targets.dtype !== 'i8' && targets.dtype !== 'u8') {
    throw new DTypeError(`crossEntropy targets must be integer class indices, got ${targets.dtype}`);
  }
  if (logits.rank === 0) throw new ShapeError('crossEntropy logits need a class axis');
  const lead = logits.shape.slice(0, -1);
  const classes = logits.shape[logits.rank - 1];
  const rows = numel(lead);
  if (!shapesEqual(targets.shape, lead) && !(targets.rank === 1 && targets.size === rows)) {
    throw new ShapeError(`crossEntropy targets [${targets.shape}] do not match logits [${logits.shape}]`);
  }
  if (!(smoothing >= 0 && smoothing <= 1)) throw new ShapeError(`labelSmoothing must be in [0, 1], got ${smoothing}`);
  const spec: CrossEntropyRows = { targets: targets.dataSync(), rows, classes, ignoreIndex, smoothing };
  for (let r = 0; r < rows; r++) {
    const t = spec.targets[r];
    if (t !== ignoreIndex && (t < 0 || t >= classes)) {
      throw new ShapeError(`target ${t} at row ${r} is out of range for ${classes} classes`);
    }
  }
  const x = logits.floatData();
  const losses = allocStorage(logits.dtype, rows) as FloatArray;
  const stats: RowStats = { max: new Float64Array(rows), logSum: new Float64Array(rows) };
  const counted = kernelsFor(logits.dtype).crossEntropyForward(x, spec, losses, stats);
  let out: Tensor;
  if (reduction === 'none') {
    out = new Tensor(losses, targets.shape, logits.dtype);
  } else {
    let total = 0;
    for (let r = 0; r < rows; r++) total += losses[r];
    const value = allocStorage(logits.dtype, 1) as FloatArray;
    value[0] = reduction === 'sum' ? total : total / counted;
    out = new Tensor(value, [], logits.dtype);
  }
  return record(out, 'crossEntropy', [logits], (g) => {
    // Each row's share of the upstream gradient.
    const rowGrad =
      reduction === 'none'
        ? g.floatData()
        : new Float64Array(rows).fill(g.item() / (reduction === 'sum' ? 1 : counted));
    const dx = allocUninit(logits.dtype, logits.size) as FloatArray;
    kernelsFor(logits.dtype).crossEntropyBackward(x, spec, stats, rowGrad, dx);
    return [new Tensor(dx, logits.shape, logits.dtype)];
  });
}
