// npm run check:arm64: the native kernels cross-compiled for aarch64 and run under qemu-user, checked against the
// TypeScript kernels. Node under emulation is impractical, so a standalone driver (native/test/arm64_driver.cc) links
// the kernels and reads cases that this script writes: inputs and the TypeScript results, in one binary file.
//
// Tolerances (|got − want| ≤ atol + rtol·|want| elementwise, the rows of test/backends/cases.ts for the same kernels);
// GEMM is held to the f32 rounding bound instead: |got − want| ≤ 2·(k + 2)·2⁻²⁴ · (|α|·Σₚ|a||b| + |β|·|c|), the
// standard bound on a k-term f32 dot product's rounding, doubled because both sides round.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BINARY_OPS, UNARY_GRAD_OPS, UNARY_OPS } from '../src/backends/native/loader.js';
import { binaryTs, unaryGradTs, unaryTs } from '../src/backends/ts/elementwise.js';
import { gemmTs } from '../src/backends/ts/gemm.js';
import { rmsNormBackwardTs, rmsNormForwardTs } from '../src/backends/ts/norm.js';
import { softmaxBackwardTs, softmaxBandsTs, softmaxForwardTs } from '../src/backends/ts/softmax.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const COMPILER = 'aarch64-linux-gnu-g++';
const APT = 'apt-get install g++-aarch64-linux-gnu qemu-user-static';
const KERNEL_SOURCES = ['gemm.cc', 'cache.cc', 'elementwise.cc'];

type Array_ = Float32Array | Float64Array | Int32Array;

/** One case for the driver: a kernel tag, scalars (the last two: atol, rtol), and arrays (inputs, then results). */
interface Case {
  tag: string;
  scalars: number[];
  arrays: Array_[];
}

/** The cases as the driver reads them, little-endian: per case the tag, the scalars as f64, then typed arrays. */
function encode(cases: Case[]): Buffer {
  const parts: Buffer[] = [];
  const u32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    parts.push(b);
  };
  for (const c of cases) {
    u32(c.tag.length);
    parts.push(Buffer.from(c.tag, 'ascii'));
    u32(c.scalars.length);
    parts.push(Buffer.from(Float64Array.from(c.scalars).buffer));
    u32(c.arrays.length);
    for (const a of c.arrays) {
      u32(a instanceof Float32Array ? 0 : a instanceof Float64Array ? 1 : 2);
      u32(a.length);
      parts.push(Buffer.from(a.buffer, a.byteOffset, a.byteLength));
    }
  }
  return Buffer.concat(parts);
}

/** Seeded values in [-scale, scale) (an LCG, so that every run checks the same numbers). */
function values(n: number, seed: number, scale = 1): Float32Array {
  let s = (seed * 2654435761) >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * 2 * scale;
  }
  return out;
}

const GEMM_SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 7, 33],
  [7, 1, 257],
  [7, 7, 7],
  [33, 33, 1],
  [33, 257, 7],
  [257, 33, 33],
  [4, 257, 257],
  [257, 7, 1],
  [9, 13, 1100],
  [33, 257, 257],
  [257, 257, 33],
];
const ALPHA_BETA: [number, number][] = [
  [1, 0],
  [0.5, 1],
  [-1.25, 0.75],
];

/** C = alpha·op(A)·op(B) + beta·C over a batch, every operand with padded rows; B broadcast when strideB is 0. */
function gemmCase(
  m: number,
  n: number,
  k: number,
  transA: boolean,
  transB: boolean,
  alpha: number,
  beta: number,
  batch: number,
  broadcastB: boolean,
  seed: number,
): Case {
  const pad = 3;
  const lda = (transA ? m : k) + pad;
  const ldb = (transB ? k : n) + pad;
  const ldc = n + pad;
  const strideA = (transA ? k : m) * lda + 5;
  const strideB = broadcastB ? 0 : (transB ? n : k) * ldb + 5;
  const strideC = m * ldc + 5;
  const a = values(strideA * batch, seed);
  const b = values((broadcastB ? 1 : batch) * Math.max(strideB, (transB ? n : k) * ldb), seed + 1);
  const c0 = values(strideC * batch, seed + 2);
  const args = { transA, transB, m, n, k, alpha, beta, aOffset: 0, lda, strideA, bOffset: 0, ldb, strideB };
  const want = c0.slice();
  gemmTs({ ...args, a, b, c: want, cOffset: 0, ldc, strideC, batch });
  // Σ|a||b| scaled as C is: the rounding bound's size.
  const magnitude = c0.map(Math.abs);
  gemmTs({
    ...args,
    alpha: Math.abs(alpha),
    beta: Math.abs(beta),
    a: a.map(Math.abs),
    b: b.map(Math.abs),
    c: magnitude,
    cOffset: 0,
    ldc,
    strideC,
    batch,
  });
  const scalars = [+transA, +transB, m, n, k, alpha, beta, lda, ldb, ldc, strideA, strideB, strideC, batch];
  return { tag: 'gemm', scalars: [...scalars, 0, 2 * (k + 2) * 2 ** -24], arrays: [a, b, c0, want, magnitude] };
}

function gemmCases(): Case[] {
  const cases: Case[] = [];
  let seed = 100;
  for (const [m, n, k] of GEMM_SHAPES) {
    for (const [transA, transB] of [
      [false, false],
      [false, true],
      [true, false],
      [true, true],
    ] as const) {
      const [alpha, beta] = ALPHA_BETA[seed % ALPHA_BETA.length];
      cases.push(gemmCase(m, n, k, transA, transB, alpha, beta, 1, false, seed++));
    }
  }
  // Batched: strided entries, and one B for every entry.
  for (const [m, n, k] of [
    [7, 33, 33],
    [33, 7, 257],
    [3, 5, 7],
  ] as const) {
    cases.push(gemmCase(m, n, k, false, true, 1, 0, 3, false, seed++));
    cases.push(gemmCase(m, n, k, true, false, 0.5, 1, 4, true, seed++));
  }
  cases.push(gemmCase(5, 6, 0, false, false, 1, 0.5, 2, false, seed++)); // k = 0: C = beta·C
  return cases;
}

/** Inputs inside each op's domain, with the special values the native kernels branch on. */
function unaryInput(op: string, n: number, seed: number): Float32Array {
  const x = values(n, seed, 6);
  if (op === 'log' || op === 'sqrt' || op === 'rsqrt') return x.map((v) => Math.abs(v) + 1e-3);
  if (n > 8) x.set([0, -0, 30, -30, 90, -90, 1e-20, -1e-20]);
  return x;
}

function rowCases(): Case[] {
  const cases: Case[] = [];
  let seed = 1000;
  for (const n of [1, 4099, 70001]) {
    UNARY_OPS.forEach((op, index) => {
      const x = unaryInput(op, n, seed++);
      const want = new Float32Array(n);
      unaryTs(op, x, want);
      cases.push({ tag: 'unary', scalars: [index, n, 1e-6, 4e-6], arrays: [x, want] });
    });
    for (const op of UNARY_GRAD_OPS) {
      const x = values(n, seed++, 4);
      const g = values(n, seed++);
      const want = new Float32Array(n);
      unaryGradTs(op, x, g, want);
      cases.push({ tag: 'unaryGrad', scalars: [UNARY_OPS.indexOf(op), n, 2e-6, 2e-5], arrays: [x, g, want] });
    }
    BINARY_OPS.forEach((op, index) => {
      for (const [stepA, stepB] of [
        [1, 1],
        [0, 1],
        [1, 0],
      ]) {
        const a = values(stepA ? n : 1, seed++, 3);
        const b = values(stepB ? n : 1, seed++, 3).map((v) => (op === 'div' ? v + Math.sign(v) * 0.1 : v));
        const want = new Float32Array(n);
        binaryTs(op, want, [n], { data: a, strides: [stepA], offset: 0 }, { data: b, strides: [stepB], offset: 0 });
        cases.push({ tag: 'binary', scalars: [index, stepA, stepB, n, 0, 1e-7], arrays: [a, b, want] });
      }
    });
  }
  for (const [rows, len] of [
    [1, 1],
    [37, 257],
    [3, 1000],
    [5, 7],
  ]) {
    for (const log of [false, true]) {
      const x = values(rows * len, seed++, 5);
      if (x.length > 300) x[300] = Number.NEGATIVE_INFINITY;
      const want = new Float32Array(x.length);
      softmaxForwardTs(x, want, rows, len, 1, log);
      cases.push({ tag: 'softmax', scalars: [rows, len, +log, 1e-6, 1e-5], arrays: [x, want] });

      const y = want;
      const g = values(rows * len, seed++);
      const dx = new Float32Array(rows * len);
      softmaxBackwardTs(y, g, dx, rows, len, 1, log);
      // The native row kernel is the softmax (not log-softmax) gradient; the log one is composed in TypeScript.
      if (!log) cases.push({ tag: 'softmaxBackward', scalars: [rows, len, 1e-6, 1e-5], arrays: [y, g, dx] });
    }
  }
  for (const [rows, len, shift] of [
    [1, 1, 0],
    [48, 40, 8],
    [9, 13, 0],
    [17, 257, 3],
  ]) {
    const lo = Int32Array.from({ length: rows }, (_, r) => Math.max(0, r - shift - 10));
    const hi = Int32Array.from({ length: rows }, (_, r) => Math.min(len - 1, r - shift));
    const x = values(rows * len, seed++, 4);
    const want = x.slice();
    softmaxBandsTs(want, 0, rows, len, lo, hi);
    cases.push({ tag: 'softmaxBands', scalars: [rows, len, 1e-7, 1e-5], arrays: [x, lo, hi, want] });
  }
  for (const [rows, dim] of [
    [1, 1],
    [37, 384],
    [5, 17],
    [3, 4099],
  ]) {
    const x = values(rows * dim, seed++, 2);
    const w = values(dim, seed++);
    const out = new Float32Array(rows * dim);
    const rstd = new Float64Array(rows);
    rmsNormForwardTs(x, w, out, rstd, rows, dim, 1e-5);
    cases.push({ tag: 'rmsNorm', scalars: [rows, dim, 1e-5, 1e-6, 1e-6], arrays: [x, w, out, rstd] });
    const g = values(rows * dim, seed++);
    const dx = new Float32Array(rows * dim);
    const dw = new Float64Array(dim);
    rmsNormBackwardTs(x, w, rstd, g, dx, dw, rows, dim);
    cases.push({ tag: 'rmsNormBackward', scalars: [rows, dim, 1e-5, 1e-5], arrays: [x, w, rstd, g, dx, dw] });
  }
  return cases;
}

/** Runs a command, returning its status and output; status null when it could not start. */
function run(command: string, args: string[]): { status: number | null; output: string } {
  const r = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { status: r.error ? null : r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** qemu-user: the static build if present, else qemu-aarch64 with the cross sysroot. */
function findQemu(): string[] | null {
  if (run('qemu-aarch64-static', ['--version']).status === 0)
    return ['qemu-aarch64-static', '-L', '/usr/aarch64-linux-gnu'];
  if (run('qemu-aarch64', ['--version']).status === 0) return ['qemu-aarch64', '-L', '/usr/aarch64-linux-gnu'];
  return null;
}

function main(): number {
  const qemu = findQemu();
  const missing = [run(COMPILER, ['--version']).status === 0 ? null : COMPILER, qemu ? null : 'qemu-aarch64'];
  if (missing.some((m) => m !== null)) {
    console.log(`check:arm64 skipped: ${missing.filter(Boolean).join(' and ')} not found (install: ${APT})`);
    return 0;
  }
  const dir = mkdtempSync(join(tmpdir(), 'lithe-arm64-'));
  try {
    const driver = join(dir, 'arm64_driver');
    const sources = [
      ...KERNEL_SOURCES.map((f) => join(root, 'native', f)),
      join(root, 'native', 'test', 'arm64_driver.cc'),
    ];
    // The addon's flags (binding.gyp), static so that qemu needs no aarch64 libstdc++ at run time.
    const flags = ['-std=c++17', '-O3', '-fexceptions', '-ffp-contract=fast', '-pthread', '-static'];
    const build = run(COMPILER, [...flags, `-I${join(root, 'native')}`, ...sources, '-o', driver]);
    if (build.status !== 0) {
      console.error(build.output);
      console.error(`check:arm64: ${COMPILER} failed`);
      return 1;
    }
    const cases = [...gemmCases(), ...rowCases()];
    const casesPath = join(dir, 'cases.bin');
    writeFileSync(casesPath, encode(cases));
    const [emulator, ...emulatorArgs] = qemu as string[];
    const result = run(emulator, [...emulatorArgs, driver, casesPath]);
    process.stdout.write(result.output);
    if (result.status !== 0) {
      console.error(`check:arm64: FAILED (driver exit ${result.status})`);
      return 1;
    }
    return 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

process.exitCode = main();
