import { readFileSync } from 'node:fs';
import { tensor } from '../../src/engine/create.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { clipGradNorm } from '../../src/train/clip.js';
import { AdamW, type AdamWOptions } from '../../src/train/optim/adamw.js';
import type { GroupHyper } from '../../src/train/optim/optimizer.js';
import { SGD, type SgdOptions } from '../../src/train/optim/sgd.js';
import { type CosineOptions, cosineSchedule, type LrSchedule } from '../../src/train/schedule.js';

/** One torch run of tools/make_optim_golden.py: its setup and what torch recorded at every step. */
export interface GoldenRun {
  optimizer: 'AdamW' | 'SGD';
  options: AdamWOptions & SgdOptions;
  groups: GroupHyper[];
  schedule: CosineOptions;
  lr: number[][];
  totalNorm: number[];
  /** [step][param] → values after the step. */
  params: number[][][];
}

export interface OptimGolden {
  names: string[];
  shapes: number[][];
  maxNorm: number;
  init: number[][];
  /** [step][param] → gradient, or null where the parameter has none. */
  grads: (number[] | null)[][];
  runs: Record<string, GoldenRun>;
  schedules: Record<string, number[]>;
}

export function loadGolden(): OptimGolden {
  const url = new URL('../../../test/golden/optim/torch-optim.json', import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')) as OptimGolden;
}

export type AnyOptimizer = AdamW | SGD;

/** A run's optimiser over fresh copies of the initial parameters: the first two in group 0, the rest in group 1. */
export function setUp(
  golden: OptimGolden,
  run: GoldenRun,
): { params: Tensor[]; optimizer: AnyOptimizer; schedule: LrSchedule } {
  const params = golden.init.map((v, i) => tensor(Float32Array.from(v), golden.shapes[i], { requiresGrad: true }));
  const groups = [
    { params: params.slice(0, 2), ...run.groups[0] },
    { params: params.slice(2), ...run.groups[1] },
  ];
  const optimizer = run.optimizer === 'AdamW' ? new AdamW(groups, run.options) : new SGD(groups, run.options);
  return { params, optimizer, schedule: cosineSchedule(run.schedule) };
}

/** One training step as the golden script takes it: set gradients, clip, schedule the LR, step. */
export function trainStep(
  golden: OptimGolden,
  params: Tensor[],
  optimizer: AnyOptimizer,
  schedule: LrSchedule,
  step: number,
): number {
  params.forEach((p, i) => {
    const g = golden.grads[step][i];
    p.grad = g ? tensor(Float32Array.from(g), golden.shapes[i]) : null;
  });
  const norm = clipGradNorm(params, golden.maxNorm);
  optimizer.setLrFactor(schedule(step));
  optimizer.step();
  return norm;
}
