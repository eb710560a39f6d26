import { kernelsFor, stridedOperand } from '../backends/kernels.js';
import { noGrad } from '../engine/autograd.js';
import { ShapeError } from '../engine/errors.js';
import { shapesEqual } from '../engine/shape.js';
import type { Tensor } from '../engine/tensor.js';
import { where } from './elementwise.js';

/** A tensor that in-place writes may change: contiguous and cut off from the tape. */
function writable(target: Tensor, what: string): void {
  if (!target.isContiguous()) throw new ShapeError(`${what}: the target must be contiguous`);
  if (target.gradNode) throw new ShapeError(`${what}: the target must be a leaf (an op's output is read by its graph)`);
}

/**
 * Copy `value` into `target` in place (same shape; converted to target's dtype), with no autograd. The target keeps its
 * identity, so an optimiser that holds it sees the new values.
 */
export function assign_(target: Tensor, value: Tensor): void {
  writable(target, 'assign_');
  if (!shapesEqual(target.shape, value.shape)) {
    throw new ShapeError(`assign_: target has shape [${target.shape}], value has [${value.shape}]`);
  }
  const source = value.dtype === target.dtype ? value : value.to(target.dtype);
  kernelsFor(target.dtype).writeStrided(stridedOperand(target), target.shape, source.denseStorage());
}

/** Zero the entries of `target` where the bool `mask` (same shape) is false, in place, with no autograd. */
export function maskInPlace_(target: Tensor, mask: Tensor): void {
  writable(target, 'maskInPlace_');
  if (mask.dtype !== 'bool') throw new ShapeError(`maskInPlace_: the mask must be bool, got ${mask.dtype}`);
  if (!shapesEqual(target.shape, mask.shape)) {
    throw new ShapeError(`maskInPlace_: target has shape [${target.shape}], mask has [${mask.shape}]`);
  }
  assign_(
    target,
    noGrad(() => where(mask, target, 0)),
  );
}
