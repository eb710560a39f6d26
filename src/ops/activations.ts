import { allocate, kernelsFor } from '../backends/kernels.js';
import { record } from '../engine/autograd.js';
import { asFloat, Tensor } from '../engine/tensor.js';
import { mul, sub, unaryRaw } from './elementwise.js';

type GradFromInput = 'relu' | 'silu' | 'geluTanh' | 'geluErf' | 'softplus' | 'logSigmoid';

/** An activation whose gradient is computed from its input by the unaryGrad kernel. */
function activation(op: GradFromInput, a: Tensor): Tensor {
  const x = asFloat(a);
  return record(unaryRaw(op, x), op, [x], (g) => {
    const out = allocate(x.dtype, x.size);
    kernelsFor(x.dtype).unaryGrad(op, x.denseStorage(), g.denseStorage(), out);
    return [new Tensor(out, x.shape, x.dtype)];
  });
}

export function relu(x: Tensor): Tensor {
  return activation('relu', x);
}

export function silu(x: Tensor): Tensor {
  return activation('silu', x);
}

/** GELU; approximate 'none' uses erf (torch's default), 'tanh' the tanh form. */
export function gelu(x: Tensor, options: { approximate?: 'none' | 'tanh' } = {}): Tensor {
  return activation(options.approximate === 'tanh' ? 'geluTanh' : 'geluErf', x);
}

export function softplus(x: Tensor): Tensor {
  return activation('softplus', x);
}

export function logSigmoid(x: Tensor): Tensor {
  return activation('logSigmoid', x);
}

export function sigmoid(a: Tensor): Tensor {
  const x = asFloat(a);
  const out = unaryRaw('sigmoid', x);
  return record(out, 'sigmoid', [x], (g) => {
    const s = out.detach();
    return [mul(g, mul(s, sub(1, s)))];
  });
}

export function tanh(a: Tensor): Tensor {
  const x = asFloat(a);
  const out = unaryRaw('tanh', x);
  return record(out, 'tanh', [x], (g) => {
    const t = out.detach();
    return [mul(g, sub(1, mul(t, t)))];
  });
}
