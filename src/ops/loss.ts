import {
  allocate,
  allocateZeroed,
  type CrossEntropyRows,
  type Handles,
  kernelsFor,
  upload,
} from '../backends/kernels.js';
import { record } from '../engine/autograd.js';
import { DTypeError, ShapeError } from '../engine/errors.js';
import { numel, shapesEqual } from '../engine/shape.js';
import { asFloat, Tensor } from '../engine/tensor.js';
import { div } from './elementwise.js';
import { sum } from './reduce.js';

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
  // The kernel checks that each target is a class or ignoreIndex.
  const spec: Handles<CrossEntropyRows> = { targets: targets.denseStorage(), rows, classes, ignoreIndex, smoothing };
  const x = logits.denseStorage();
  const losses = allocateZeroed(logits.dtype, rows);
  const stats = { max: allocateZeroed('f64', rows), logSum: allocateZeroed('f64', rows) };
  const counted = kernelsFor(logits.dtype).crossEntropyForward(x, spec, losses, stats);
  const perRow = new Tensor(losses, targets.shape, logits.dtype);
  // The total is summed in f64 and divided once, so a mean is rounded to the logits' dtype only at the end.
  const total = reduction === 'none' ? perRow : sum(perRow.to('f64'));
  const out = reduction === 'mean' ? div(total, counted).to(logits.dtype) : total.to(logits.dtype);
  return record(out, 'crossEntropy', [logits], (g) => {
    // Each row's share of the upstream gradient.
    const rowGrad =
      reduction === 'none'
        ? g.denseStorage()
        : upload(new Float64Array(rows).fill(g.item() / (reduction === 'sum' ? 1 : counted)));
    const dx = allocate(logits.dtype, logits.size);
    kernelsFor(logits.dtype).crossEntropyBackward(x, spec, stats, rowGrad, dx);
    return [new Tensor(dx, logits.shape, logits.dtype)];
  });
}
