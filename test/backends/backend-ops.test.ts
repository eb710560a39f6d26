import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Backend, hostBackend, type KernelEntry } from '../../src/backends/backend.js';
import type { KernelName } from '../../src/backends/kernels.js';
import { backendName, KERNEL_NAMES, nativeBackend, tsBackend, tsKernels } from '../../src/backends/registry.js';
import { noGrad, record } from '../../src/engine/autograd.js';
import { randn, tensor } from '../../src/engine/create.js';
import type { FloatDType } from '../../src/engine/dtype.js';
import { Rng } from '../../src/engine/rng.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { mul, sum } from '../../src/index.js';
import { compareWithCentralDifferences } from '../helpers/gradcheck.js';
import { CASES, GRAD_CASES, type GradCase, type KernelCase, values } from './cases.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const backends = [tsBackend, nativeBackend()].filter((b): b is Backend => b !== null);

type AnyCase = KernelCase<KernelName>;
type Run = (...args: unknown[]) => unknown;

const casesOf = (kernel: KernelName) => (CASES[kernel] ?? []) as unknown as AnyCase[];

/** got and want agree elementwise within [atol, rtol]; NaN matches NaN; [0, 0] means bit for bit (as ===). */
function assertAgree(got: unknown, want: unknown, [atol, rtol]: readonly [number, number], what: string): void {
  if (want === null || want === undefined) {
    assert.equal(got, want, what);
    return;
  }
  const g = (typeof got === 'number' ? [got] : got) as ArrayLike<number>;
  const w = (typeof want === 'number' ? [want] : want) as ArrayLike<number>;
  assert.equal(g.length, w.length, `${what}: length`);
  for (let i = 0; i < w.length; i++) {
    const ok =
      g[i] === w[i] ||
      (Number.isNaN(g[i]) && Number.isNaN(w[i])) ||
      Math.abs(g[i] - w[i]) <= atol + rtol * Math.abs(w[i]);
    if (!ok) assert.fail(`${what}: element ${i}: got ${g[i]}, want ${w[i]}`);
  }
}

/** Run one row in one dtype on backend's own entry (not its chain) and on the TS reference; false when not served. */
function runCase(backend: Backend, kernel: KernelName, c: AnyCase, dtype: FloatDType): boolean {
  const args = c.args(dtype) as unknown[];
  if (!backend.supports(kernel, dtype, args as never)) return false;
  const entry = backend.kernels[kernel] as KernelEntry<KernelName>;
  const refArgs = c.args(dtype) as unknown[];
  const want = (tsKernels[kernel] as Run)(...refArgs);
  const got = (entry.run as Run)(...args);
  const outsGot = (c.outputs as (a: unknown[], r: unknown) => unknown[])(args, got);
  const outsWant = (c.outputs as (a: unknown[], r: unknown) => unknown[])(refArgs, want);
  outsWant.forEach((w, i) => {
    assertAgree(outsGot[i], w, c.tol, `${backend.name} ${c.label} (${dtype}) output ${i}`);
  });
  return true;
}

describe('backend ops: every kernel on every backend against the TypeScript reference', () => {
  it('every kernel in the table has rows', () => {
    const missing = KERNEL_NAMES.filter((k) => casesOf(k).length === 0);
    assert.deepEqual(missing, [], `kernels with no rows in test/backends/cases.ts: ${missing.join(', ')}`);
  });

  it('no kernel takes more arguments than the per-call fallback forwards (10)', () => {
    const long = KERNEL_NAMES.filter((k) => (tsKernels[k] as Run).length > 10);
    assert.deepEqual(long, []);
  });

  it('the rows cover size 1 and both dtypes wherever a kernel takes f64', () => {
    for (const k of KERNEL_NAMES) {
      const rows = casesOf(k);
      assert.ok(
        rows.some((c) => /\b1\b|n=1\b|\[1\]|\[\]/.test(c.label)),
        `${k}: no size-1 row`,
      );
      if (k !== 'adamDelta')
        assert.ok(
          rows.some((c) => c.dtypes.includes('f64')),
          `${k}: no f64 row`,
        );
    }
  });

  it('catches a kernel that disagrees with the reference', () => {
    const broken = hostBackend('broken', {
      unary: {
        dtypes: 'all',
        run: (op, x, out) => {
          tsKernels.unary(op, x, out);
          out[out.length - 1] += 1e-3;
        },
      },
    });
    assert.throws(() => runCase(broken, 'unary', casesOf('unary')[0], 'f32'), /got/);
  });

  for (const backend of backends) {
    describe(`${backend.name} backend`, () => {
      it('serves at least one row of every kernel it implements', () => {
        const own = Object.keys(backend.kernels) as KernelName[];
        const unserved = own.filter(
          (k) => !casesOf(k).some((c) => c.dtypes.some((d) => backend.supports(k, d, c.args(d) as never))),
        );
        assert.deepEqual(unserved, []);
      });
      for (const kernel of KERNEL_NAMES) {
        if (!backend.kernels[kernel]) continue;
        it(kernel, () => {
          let served = 0;
          for (const c of casesOf(kernel)) for (const d of c.dtypes) served += runCase(backend, kernel, c, d) ? 1 : 0;
          assert.ok(served > 0, `${backend.name} served no row of ${kernel}`);
        });
      }
    });
  }
});

/** The op names that ops/*.ts record on the tape: literal names, and the number of sites that pass a variable. */
function recordedOps(): { literal: Set<string>; variableSites: Map<string, number> } {
  const literal = new Set<string>();
  const variableSites = new Map<string, number>();
  const dir = join(root, 'src/ops');
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    for (const line of readFileSync(join(dir, file), 'utf8').split('\n')) {
      if (!/\brecord\(/.test(line) || /^\s*import\b/.test(line)) continue;
      const head = line.slice(0, line.indexOf('=>') >= 0 ? line.indexOf('=>') : line.length);
      const names = [...head.matchAll(/'(\w+)'/g)].map((m) => m[1]);
      if (names.length === 0) variableSites.set(file, (variableSites.get(file) ?? 0) + 1);
      for (const n of names) literal.add(n);
    }
  }
  return { literal, variableSites };
}

/** The ops that record-sites with a variable name write, per file (checked against the count of such sites). */
const VARIABLE_SITES: Record<string, { sites: number; ops: string[] }> = {
  'activations.ts': { sites: 1, ops: ['relu', 'silu', 'geluErf', 'geluTanh', 'softplus', 'logSigmoid'] },
  'conv.ts': { sites: 1, ops: ['conv1d', 'conv2d'] },
  'elementwise.ts': { sites: 1, ops: ['maximum', 'minimum'] },
  'pool.ts': {
    sites: 2,
    ops: ['maxPool1d', 'maxPool2d', 'avgPool1d', 'avgPool2d', 'adaptiveAvgPool1d', 'adaptiveAvgPool2d'],
  },
  'reduce.ts': { sites: 1, ops: ['max', 'min'] },
};

/** Check one case's f32 analytic gradient against f64 central differences; throws on a mismatch. */
function gradCheck(c: GradCase): void {
  const host = c.inputs.map((s, i) => inputValues(s, i, c.positive ?? false));
  const outShape = noGrad(() => c.fn(...host.map((v, i) => fromValues(v, c.inputs[i], 'f64'))).shape);
  const weights = values(
    'f64',
    outShape.reduce((a, b) => a * b, 1),
    99,
  ) as Float64Array;
  // Analytic: the f32 path of the backend in use (native unless LITHE_BACKEND=ts).
  const xs32 = host.map((v, i) => fromValues(v, c.inputs[i], 'f32').requiresGrad_());
  const out32 = c.fn(...xs32);
  sum(mul(out32, fromValues(weights, outShape, 'f32'))).backward();
  // Numeric: central differences of the same objective in f64 (which resolves to the TypeScript kernels).
  const objective = (vals: Float64Array[]) =>
    noGrad(() =>
      sum(
        mul(c.fn(...vals.map((v, i) => fromValues(v, c.inputs[i], 'f64'))), fromValues(weights, outShape, 'f64')),
      ).item(),
    );
  const eps = 1e-6;
  host.forEach((v, k) => {
    const analytic = xs32[k].grad ? xs32[k].grad.toArray() : new Array<number>(v.length).fill(0);
    // f32 forward and backward: a few hundred ulps of the gradient's scale.
    compareWithCentralDifferences(v, analytic, () => objective(host), {
      eps,
      tol: (numeric) => 1e-3 + 1e-3 * Math.abs(numeric),
      label: `input ${k} (f32 analytic vs f64 numeric)`,
    });
  });
}

/** Every op name on the tape below t. */
function tapeOps(t: Tensor, into: Set<string>): Set<string> {
  const stack = [t];
  const seen = new Set<Tensor>();
  while (stack.length > 0) {
    const x = stack.pop() as Tensor;
    if (seen.has(x) || !x.gradNode) continue;
    seen.add(x);
    into.add(x.gradNode.op);
    stack.push(...x.gradNode.inputs);
  }
  return into;
}

/** The seeded f64 values of input i of a case. */
function inputValues(shape: number[], i: number, positive: boolean): Float64Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = values('f64', n, 100 + i) as Float64Array;
  return positive ? v.map((x) => 0.5 + Math.abs(x)) : v;
}

describe(`gradient mode: every differentiable op's f32 gradient on the ${backendName()} backend against f64 central differences`, () => {
  it('every op recorded in ops/*.ts has a gradient case', () => {
    const { literal, variableSites } = recordedOps();
    for (const [file, count] of variableSites) {
      assert.equal(VARIABLE_SITES[file]?.sites, count, `${file}: ${count} record sites with a variable op name`);
    }
    const covered = new Set<string>();
    for (const c of GRAD_CASES) {
      const xs = c.inputs.map((s, i) => randn(s, { rng: new Rng(i) }).requiresGrad_());
      tapeOps(c.fn(...xs), covered);
    }
    const wanted = [...literal, ...Object.values(VARIABLE_SITES).flatMap((v) => v.ops)];
    const missing = wanted.filter((op) => !covered.has(op));
    assert.deepEqual(missing, [], `differentiable ops with no gradient case: ${missing.join(', ')}`);
  });

  it('catches a wrong gradient', () => {
    const broken: GradCase = {
      label: 'identity with a doubled gradient',
      inputs: [[3]],
      fn: (x) => record(mul(x, 1), 'broken', [x], (g) => [mul(g, 2)]),
    };
    assert.throws(() => gradCheck(broken), /analytic/);
  });

  for (const c of GRAD_CASES) it(c.label, () => gradCheck(c));
});

/** A tensor of dtype holding the f64 values (rounded for f32). */
function fromValues(v: Float64Array, shape: readonly number[], dtype: FloatDType): Tensor {
  return tensor(dtype === 'f64' ? Float64Array.from(v) : Float32Array.from(v), shape, { dtype });
}
