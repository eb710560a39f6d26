import { readFileSync } from 'node:fs';
import { tensor } from '../../src/engine/create.js';
import type { Tensor } from '../../src/engine/tensor.js';
import type { TensorModule } from '../../src/nn/containers.js';
import type { Module } from '../../src/nn/module.js';
import { mul } from '../../src/ops/elementwise.js';
import { sum } from '../../src/ops/reduce.js';
import { assertClose } from './gradcheck.js';

/** test/golden/nn/torch-nn.json, written by tools/make_nn_golden.py. */
export interface StoredTensor {
  shape: number[];
  values: number[];
}

/** One forward and backward of sum(y²); `d_<name>` holds a parameter's gradient. */
export interface GoldenStep {
  x: StoredTensor;
  y: StoredTensor;
  dx: StoredTensor;
  running_mean?: number[];
  running_var?: number[];
  num_batches_tracked?: number;
  [gradient: `d_${string}`]: StoredTensor;
}

export interface GoldenCase {
  name: string;
  module: string;
  args: unknown[];
  options: Record<string, unknown>;
  params: Record<string, StoredTensor>;
  steps: GoldenStep[];
  eval?: GoldenStep;
}

export function loadNnGolden(module: string): GoldenCase[] {
  const path = new URL('../../../test/golden/nn/torch-nn.json', import.meta.url);
  const golden = JSON.parse(readFileSync(path, 'utf8')) as { cases: GoldenCase[] };
  return golden.cases.filter((c) => c.module === module);
}

export function storedTensor(s: StoredTensor): Tensor {
  return tensor(s.values, s.shape);
}

/** Load a case's parameters into a module built with the same options. */
export function loadParams(module: Module, golden: GoldenCase): void {
  for (const [name, t] of Object.entries(golden.params)) module.setParameter(name, storedTensor(t));
}

/** Run one golden step on the module and compare the output and the gradients of sum(y²) with torch's. */
export function checkStep(module: TensorModule, step: GoldenStep, tolerance = 1e-5): void {
  module.zeroGrad();
  const x = storedTensor(step.x).requiresGrad_();
  const y = module.forward(x);
  assertClose(y.shape, step.y.shape, 0, 0);
  assertClose(y.toArray(), step.y.values, tolerance, tolerance);
  sum(mul(y, y)).backward();
  assertClose(x.grad?.toArray() ?? [], step.dx.values, tolerance, tolerance);
  for (const [name, p] of module.namedParameters()) {
    const expected = step[`d_${name}`];
    assertClose(p.grad?.toArray() ?? [], expected.values, tolerance, tolerance);
  }
}
