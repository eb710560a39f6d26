import { allocate, type BinaryOp, kernelsFor, stridedOperand, type UnaryOp } from '../backends/kernels.js';
import { record } from '../engine/autograd.js';
import { allocStorage, isFloatCompute } from '../engine/dtype.js';
import { DTypeError } from '../engine/errors.js';
import { broadcastShapes, broadcastStrides, numel } from '../engine/shape.js';
import { asFloat, describeValue, resultDType, Tensor } from '../engine/tensor.js';
import { sumTo } from './reduce.js';

/** A tensor, or a plain number that broadcasts as a scalar. */
export type Operand = Tensor | number;

/** x as a float tensor; `op` names the operation when x is neither a tensor nor a number. */
function lift(x: Operand, like: Tensor | null, op: string): Tensor {
  if (x instanceof Tensor) return asFloat(x);
  if (typeof x !== 'number') throw new DTypeError(`${op}: operands are tensors or numbers, got ${describeValue(x)}`);
  const dtype = like?.dtype === 'f64' ? 'f64' : 'f32';
  const data = allocStorage(dtype, 1);
  data[0] = x;
  return new Tensor(data, [], dtype);
}

function liftPair(op: string, a: Operand, b: Operand): [Tensor, Tensor] {
  const ta = lift(a, b instanceof Tensor ? b : null, op);
  return [ta, lift(b, ta, op)];
}

function binaryRaw(op: BinaryOp, a: Tensor, b: Tensor, outDType: 'f32' | 'f64' | 'bool'): Tensor {
  const shape = broadcastShapes(a.shape, b.shape);
  const out = allocate(outDType, numel(shape));
  kernelsFor(outDType).binary(
    op,
    out,
    shape,
    stridedOperand(a, broadcastStrides(a.shape, a.strides, shape)),
    stridedOperand(b, broadcastStrides(b.shape, b.strides, shape)),
  );
  return new Tensor(out, shape, outDType);
}

function binary(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  return binaryRaw(op, a, b, resultDType(a, b));
}

export function add(a: Operand, b: Operand): Tensor {
  const [x, y] = liftPair('add', a, b);
  const out = binary('add', x, y);
  return record(out, 'add', [x, y], (g) => [sumTo(g, x.shape), sumTo(g, y.shape)]);
}

export function sub(a: Operand, b: Operand): Tensor {
  const [x, y] = liftPair('sub', a, b);
  const out = binary('sub', x, y);
  return record(out, 'sub', [x, y], (g) => [sumTo(g, x.shape), y.requiresGrad ? sumTo(neg(g), y.shape) : null]);
}

export function mul(a: Operand, b: Operand): Tensor {
  const [x, y] = liftPair('mul', a, b);
  const out = binary('mul', x, y);
  return record(out, 'mul', [x, y], (g) => [
    x.requiresGrad ? sumTo(mul(g, y), x.shape) : null,
    y.requiresGrad ? sumTo(mul(g, x), y.shape) : null,
  ]);
}

export function div(a: Operand, b: Operand): Tensor {
  const [x, y] = liftPair('div', a, b);
  const out = binary('div', x, y);
  return record(out, 'div', [x, y], (g) => [
    x.requiresGrad ? sumTo(div(g, y), x.shape) : null,
    // d(x/y)/dy = -(x/y)/y
    y.requiresGrad ? sumTo(neg(div(mul(g, out.detach()), y)), y.shape) : null,
  ]);
}

export function pow(a: Operand, b: Operand): Tensor {
  const [x, y] = liftPair('pow', a, b);
  const out = binary('pow', x, y);
  return record(out, 'pow', [x, y], (g) => [
    x.requiresGrad ? sumTo(mul(g, mul(y, pow(x, sub(y, 1)))), x.shape) : null,
    y.requiresGrad ? sumTo(mul(g, mul(out.detach(), log(x))), y.shape) : null,
  ]);
}

/** Elementwise max/min; where the two are equal the gradient is split evenly, as in PyTorch. */
function extremum(op: 'maximum' | 'minimum', a: Operand, b: Operand): Tensor {
  const [x, y] = liftPair(op, a, b);
  const out = binary(op, x, y);
  return record(out, op, [x, y], (g) => {
    const wins = binaryRaw(op === 'maximum' ? 'gt' : 'lt', x, y, resultDType(x, y));
    const ties = binaryRaw('eq', x, y, resultDType(x, y));
    const share = add(wins, mul(ties, 0.5));
    return [
      x.requiresGrad ? sumTo(mul(g, share), x.shape) : null,
      y.requiresGrad ? sumTo(mul(g, sub(1, share)), y.shape) : null,
    ];
  });
}

export function maximum(a: Operand, b: Operand): Tensor {
  return extremum('maximum', a, b);
}

export function minimum(a: Operand, b: Operand): Tensor {
  return extremum('minimum', a, b);
}

function compare(op: BinaryOp, a: Operand, b: Operand): Tensor {
  const [x, y] = liftPair(op, a, b);
  return binaryRaw(op, x, y, 'bool');
}

export const eq = (a: Operand, b: Operand): Tensor => compare('eq', a, b);
export const ne = (a: Operand, b: Operand): Tensor => compare('ne', a, b);
export const lt = (a: Operand, b: Operand): Tensor => compare('lt', a, b);
export const le = (a: Operand, b: Operand): Tensor => compare('le', a, b);
export const gt = (a: Operand, b: Operand): Tensor => compare('gt', a, b);
export const ge = (a: Operand, b: Operand): Tensor => compare('ge', a, b);

/** cond ? a : b with broadcasting; cond is any tensor, non-zero meaning true. */
export function where(cond: Tensor, a: Operand, b: Operand): Tensor {
  const [x, y] = liftPair('where', a, b);
  const shape = broadcastShapes(broadcastShapes(cond.shape, x.shape), y.shape);
  const dtype = resultDType(x, y);
  const out = allocate(dtype, numel(shape));
  const operand = (t: Tensor) => stridedOperand(t, broadcastStrides(t.shape, t.strides, shape));
  kernelsFor(dtype).where(out, shape, operand(cond), operand(x), operand(y));
  const result = new Tensor(out, shape, dtype);
  return record(result, 'where', [x, y], (g) => [
    x.requiresGrad ? sumTo(where(cond, g, 0), x.shape) : null,
    y.requiresGrad ? sumTo(where(cond, 0, g), y.shape) : null,
  ]);
}

/** Apply a unary kernel to a float view of x (made contiguous). */
export function unaryRaw(op: UnaryOp, x: Tensor): Tensor {
  if (!isFloatCompute(x.dtype)) throw new DTypeError(`${op}: expected f32 or f64, got ${x.dtype}`);
  const out = allocate(x.dtype, x.size);
  kernelsFor(x.dtype).unary(op, x.denseStorage(), out);
  return new Tensor(out, x.shape, x.dtype);
}

export function neg(a: Tensor): Tensor {
  const x = asFloat(a);
  return record(unaryRaw('neg', x), 'neg', [x], (g) => [neg(g)]);
}

export function exp(a: Tensor): Tensor {
  const x = asFloat(a);
  const out = unaryRaw('exp', x);
  return record(out, 'exp', [x], (g) => [mul(g, out.detach())]);
}

export function log(a: Tensor): Tensor {
  const x = asFloat(a);
  return record(unaryRaw('log', x), 'log', [x], (g) => [div(g, x)]);
}

export function sqrt(a: Tensor): Tensor {
  const x = asFloat(a);
  const out = unaryRaw('sqrt', x);
  return record(out, 'sqrt', [x], (g) => [div(g, mul(out.detach(), 2))]);
}

export function rsqrt(a: Tensor): Tensor {
  const x = asFloat(a);
  const out = unaryRaw('rsqrt', x);
  // d(x^-1/2)/dx = -0.5 · x^-3/2 = -0.5 · out³
  return record(out, 'rsqrt', [x], (g) => {
    const o = out.detach();
    return [mul(g, mul(mul(o, mul(o, o)), -0.5))];
  });
}

export function abs(a: Tensor): Tensor {
  const x = asFloat(a);
  return record(unaryRaw('abs', x), 'abs', [x], (g) => [mul(g, unaryRaw('sign', x))]);
}

/** sign(x) in {-1, 0, 1}; its gradient is zero. */
export function sign(a: Tensor): Tensor {
  const x = asFloat(a);
  return record(unaryRaw('sign', x), 'sign', [x], (g) => [mul(g, 0)]);
}

/** Clamp into [min, max] (either may be omitted); gradient 1 inside the closed interval, as PyTorch. */
export function clamp(a: Tensor, options: { min?: number; max?: number }): Tensor {
  const x = asFloat(a);
  let out = x;
  if (options.min !== undefined) out = binary('maximum', out, lift(options.min, x, 'clamp'));
  if (options.max !== undefined) out = binary('minimum', out, lift(options.max, x, 'clamp'));
  if (out === x) out = x.clone();
  return record(out, 'clamp', [x], (g) => {
    let inside: Tensor = lift(1, x, 'clamp');
    if (options.min !== undefined)
      inside = mul(inside, binaryRaw('ge', x, lift(options.min, x, 'clamp'), resultDType(x)));
    if (options.max !== undefined)
      inside = mul(inside, binaryRaw('le', x, lift(options.max, x, 'clamp'), resultDType(x)));
    return [mul(g, inside)];
  });
}
