import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tensor } from '../../src/engine/create.js';
import { DTypeError } from '../../src/engine/errors.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { gelu, logSigmoid, relu, sigmoid, silu, softplus, tanh } from '../../src/ops/activations.js';
import {
  abs,
  add,
  clamp,
  div,
  eq,
  exp,
  gt,
  log,
  maximum,
  minimum,
  mul,
  neg,
  pow,
  rsqrt,
  sign,
  sqrt,
  sub,
  where,
} from '../../src/ops/elementwise.js';
import { slice, transpose } from '../../src/ops/views.js';
import { assertClose, gradcheck, leaf } from '../helpers/gradcheck.js';

describe('binary ops', () => {
  it('broadcast numpy-style', () => {
    const a = tensor([[1], [2], [3]]);
    const b = tensor([10, 20]);
    const c = add(a, b);
    assert.deepEqual(c.shape, [3, 2]);
    assert.deepEqual(c.toArray(), [11, 21, 12, 22, 13, 23]);
    assert.deepEqual(sub(b, 1).toArray(), [9, 19]);
  });
  const shapes: [number[], number[]][] = [
    [
      [3, 4],
      [3, 4],
    ],
    [
      [3, 1],
      [1, 5],
    ],
    [[2, 3, 5], [5]],
    [[1], [7]],
    [[], [2, 3]],
  ];
  const binaryCases = { add, sub, mul, div: (x: never, y: never) => div(x, add(mul(y, y), 1)), maximum, minimum };
  for (const [name, fn] of Object.entries(binaryCases)) {
    for (const [sa, sb] of shapes) {
      it(`${name} gradient [${sa}] x [${sb}]`, () => {
        gradcheck(fn as never, [leaf(sa, 1), leaf(sb, 2)]);
      });
    }
  }
  it('pow gradient in both operands', () => {
    gradcheck((x, y) => pow(add(mul(x, x), 0.5), y), [leaf([3, 4], 3), leaf([4], 4)]);
  });
  it('gradients through non-contiguous views', () => {
    gradcheck((x, y) => mul(transpose(x), slice(y, 1, 1, 6, 2)), [leaf([3, 5], 5), leaf([5, 7], 6)]);
  });
  it('comparisons give bool and where selects', () => {
    const x = tensor([1, 5, 3]);
    assert.equal(gt(x, 2).dtype, 'bool');
    assert.deepEqual(gt(x, 2).toArray(), [0, 1, 1]);
    assert.deepEqual(eq(x, 3).toArray(), [0, 0, 1]);
    assert.deepEqual(where(gt(x, 2), x, 0).toArray(), [0, 5, 3]);
  });
  it('where gradient', () => {
    const cond = gt(leaf([4, 3], 9), 0);
    gradcheck((x, y) => where(cond, x, y), [leaf([4, 3], 7), leaf([3], 8)]);
  });
  it('maximum splits ties evenly', () => {
    const x = tensor([1, 2], undefined, { dtype: 'f64', requiresGrad: true });
    const y = tensor([1, 3], undefined, { dtype: 'f64', requiresGrad: true });
    maximum(x, y).backward(tensor([1, 1], undefined, { dtype: 'f64' }));
    assert.deepEqual(x.grad?.toArray(), [0.5, 0]);
    assert.deepEqual(y.grad?.toArray(), [0.5, 1]);
  });
});

describe('unary ops', () => {
  const positive = (x: ReturnType<typeof leaf>) => add(mul(x, x), 0.3);
  const cases: Record<string, (x: never) => ReturnType<typeof leaf>> = {
    neg,
    exp,
    log: (x) => log(positive(x)),
    sqrt: (x) => sqrt(positive(x)),
    rsqrt: (x) => rsqrt(positive(x)),
    abs,
    sign: (x) => mul(sign(x), x),
    clamp: (x) => clamp(x, { min: -0.5, max: 0.7 }),
    relu,
    sigmoid,
    tanh,
    silu,
    geluTanh: (x) => gelu(x, { approximate: 'tanh' }),
    geluErf: (x) => gelu(x),
    softplus,
    logSigmoid,
  };
  for (const [name, fn] of Object.entries(cases)) {
    it(`${name} gradient`, () => {
      gradcheck(fn as never, [leaf([5, 3], 11)]);
      gradcheck(fn as never, [leaf([1], 12)]);
    });
  }
  it('values match closed forms', () => {
    const x = tensor([-30, -1, 0, 1, 30], undefined, { dtype: 'f64' });
    assertClose(
      sigmoid(x).toArray(),
      [1 / (1 + Math.exp(30)), 1 / (1 + Math.E), 0.5, 1 / (1 + Math.exp(-1)), 1 / (1 + Math.exp(-30))],
      1e-15,
    );
    assertClose(
      softplus(x).toArray(),
      [
        Math.log1p(Math.exp(-30)),
        Math.log1p(Math.exp(-1)),
        Math.log(2),
        Math.log1p(Math.E),
        30 + Math.log1p(Math.exp(-30)),
      ],
      1e-15,
    );
    // torch.nn.functional.gelu(torch.tensor([-1., 1.], dtype=torch.float64)) and approximate='tanh'
    assertClose(
      gelu(tensor([-1, 1], undefined, { dtype: 'f64' })).toArray(),
      [-0.15865525393145707, 0.8413447460685429],
      1e-13,
    );
    assertClose(
      gelu(tensor([-1, 1], undefined, { dtype: 'f64' }), { approximate: 'tanh' }).toArray(),
      [-0.15880800939172324, 0.8411919906082768],
      1e-13,
    );
  });
});

describe('operands that are neither tensors nor numbers', () => {
  it('are a DTypeError naming the op and what was given, not nonsense', () => {
    const t = tensor([1, 2]);
    const bad = (x: unknown) => x as Tensor;
    const cases: [() => unknown, RegExp][] = [
      [() => add(bad('a'), t), /^add: operands are tensors or numbers, got a string$/],
      [() => mul(t, bad(null)), /^mul: operands are tensors or numbers, got null$/],
      [() => sub(bad({}), 1), /^sub: operands are tensors or numbers, got an Object$/],
      [() => div(t, bad([1, 2])), /^div: operands are tensors or numbers, got an Array$/],
      [() => maximum(t, bad(undefined)), /^maximum: operands are tensors or numbers, got undefined$/],
      [() => where(t, bad(2n), 0), /^where: operands are tensors or numbers, got a bigint$/],
      [() => clamp(t, { min: bad('0') as unknown as number }), /^clamp: operands are tensors or numbers/],
      [() => exp(bad('a')), /^expected a Tensor, got a string$/],
    ];
    for (const [fn, message] of cases)
      assert.throws(fn, (err: unknown) => err instanceof DTypeError && message.test(err.message));
  });
});
