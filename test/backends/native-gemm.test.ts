import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadNative, type NativeAddon } from '../../src/backends/native/loader.js';
import { simdPathsFor } from '../../src/backends/registry.js';
import { type GemmArgs, gemmTs } from '../../src/backends/ts/gemm.js';
import { Rng } from '../../src/engine/rng.js';

const { addon, status } = loadNative();
const EPS32 = 2 ** -23;

interface Case {
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
  alpha?: number;
  beta?: number;
  batch?: number;
  /** Extra elements per row beyond what the matrix needs (lda/ldb/ldc larger than needed). */
  pad?: number;
  /** Leading elements before the first matrix (aOffset/bOffset/cOffset). */
  offset?: number;
  broadcastA?: boolean;
  broadcastB?: boolean;
  /** Hand the addon subarray views (non-zero byteOffset) instead of whole arrays. */
  subarray?: boolean;
}

interface Operand {
  data: Float32Array;
  offset: number;
  ld: number;
  stride: number;
}

/** Random storage for `batch` rows x cols matrices laid out as the case asks. */
function operand(rng: Rng, rows: number, cols: number, c: Case, broadcast: boolean, fill?: number): Operand {
  const pad = c.pad ?? 0;
  const offset = c.offset ?? 0;
  const ld = cols + pad;
  const stride = broadcast ? 0 : rows * ld + pad;
  const length = offset + ((c.batch ?? 1) - 1) * stride + rows * ld;
  const lead = c.subarray ? 5 : 0;
  const whole = new Float32Array(lead + length);
  for (let i = 0; i < whole.length; i++) whole[i] = fill ?? rng.uniform() * 2 - 1;
  return { data: c.subarray ? whole.subarray(lead) : whole, offset, ld, stride };
}

function toArgs(c: Case, a: Operand, b: Operand, out: Operand, arrays: [Float64Array, Float64Array, Float64Array]) {
  const args: GemmArgs = {
    transA: c.transA,
    transB: c.transB,
    m: c.m,
    n: c.n,
    k: c.k,
    alpha: c.alpha ?? 1,
    beta: c.beta ?? 0,
    a: arrays[0],
    aOffset: a.offset,
    lda: a.ld,
    strideA: a.stride,
    b: arrays[1],
    bOffset: b.offset,
    ldb: b.ld,
    strideB: b.stride,
    c: arrays[2],
    cOffset: out.offset,
    ldc: out.ld,
    strideC: out.stride,
    batch: c.batch ?? 1,
  };
  return args;
}

function callNative(native: NativeAddon, g: GemmArgs, a: Float32Array, b: Float32Array, c: Float32Array): void {
  native.gemm(
    g.transA,
    g.transB,
    g.m,
    g.n,
    g.k,
    g.alpha,
    a,
    g.aOffset,
    g.lda,
    g.strideA,
    b,
    g.bOffset,
    g.ldb,
    g.strideB,
    g.beta,
    c,
    g.cOffset,
    g.ldc,
    g.strideC,
    g.batch,
  );
}

const abs = (x: Float32Array) => Float64Array.from(x, Math.abs);

/**
 * Runs the case natively in f32 and through gemmTs in f64, and checks every element of C
 * (padding included, which must stay untouched) against an error bound of a few
 * sqrt(k)·eps times alpha·(|A|·|B|) + |beta·C|.
 */
function check(native: NativeAddon, c: Case, seed: number): void {
  const rng = new Rng(seed);
  const beta = c.beta ?? 0;
  const a = operand(rng, c.transA ? c.k : c.m, c.transA ? c.m : c.k, c, c.broadcastA ?? false);
  const b = operand(rng, c.transB ? c.n : c.k, c.transB ? c.k : c.n, c, c.broadcastB ?? false);
  // With beta == 0, C must not be read: start from NaN everywhere.
  const out = operand(rng, c.m, c.n, c, false, beta === 0 ? Number.NaN : undefined);

  const reference = Float64Array.from(out.data);
  const args = toArgs(c, a, b, out, [Float64Array.from(a.data), Float64Array.from(b.data), reference]);
  gemmTs(args);
  const bound = abs(out.data);
  gemmTs({ ...args, alpha: Math.abs(args.alpha), beta: Math.abs(beta), a: abs(a.data), b: abs(b.data), c: bound });

  const result = out.data;
  callNative(native, args, a.data, b.data, result);

  const tolerance = 4 * EPS32 * (Math.sqrt(c.k) + 2);
  for (let i = 0; i < result.length; i++) {
    const want = reference[i];
    if (Number.isNaN(want)) {
      assert.ok(Number.isNaN(result[i]), `${JSON.stringify(c)}: element ${i} outside C was written`);
      continue;
    }
    const err = Math.abs(result[i] - want);
    if (!(err <= tolerance * bound[i] + 1e-30)) {
      assert.fail(`${JSON.stringify(c)}: element ${i} is ${result[i]}, want ${want} (error ${err})`);
    }
  }
}

const transposes: [boolean, boolean][] = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
];
const sizes = [1, 3, 7, 17, 33, 65, 130];

describe('native gemm', { skip: addon === null ? `addon not loaded: ${status.reason}` : false }, () => {
  const native = addon as NativeAddon;

  it('reports its threads and SIMD level', () => {
    assert.ok(native.threads() >= 1);
    assert.match(native.simd(), /^(avx512|avx2|portable)$/);
  });

  it('matches gemmTs for every transpose combination and odd sizes', () => {
    let seed = 1;
    for (const [transA, transB] of transposes) {
      for (let i = 0; i < sizes.length; i++) {
        const [m, n, k] = [sizes[i], sizes[(i + 2) % sizes.length], sizes[(i + 4) % sizes.length]];
        check(native, { transA, transB, m, n, k }, seed++);
        check(native, { transA, transB, m: k, n: m, k: n }, seed++);
      }
      check(native, { transA, transB, m: 300, n: 257, k: 129 }, seed++);
    }
  });

  it('applies alpha and beta, with strided rows and offsets', () => {
    let seed = 100;
    for (const [transA, transB] of transposes) {
      for (const [m, n, k] of [
        [17, 33, 7],
        [65, 130, 33],
        [130, 65, 300],
      ]) {
        check(native, { transA, transB, m, n, k, alpha: 1.5, beta: -0.75, pad: 3, offset: 11 }, seed++);
        check(native, { transA, transB, m, n, k, alpha: -0.5, beta: 0, pad: 1, offset: 2 }, seed++);
        check(native, { transA, transB, m, n, k, alpha: 2, beta: 1, pad: 16, offset: 0 }, seed++);
      }
    }
  });

  it('handles batches, including broadcast (stride 0) operands', () => {
    let seed = 200;
    for (const [transA, transB] of transposes) {
      // Batch of 3 on 2 threads: each thread takes a tile of every matrix.
      check(native, { transA, transB, m: 130, n: 65, k: 33, batch: 3, beta: 0.5, pad: 2, offset: 3 }, seed++);
      check(native, { transA, transB, m: 65, n: 33, k: 17, batch: 3, broadcastA: true }, seed++);
      check(native, { transA, transB, m: 33, n: 65, k: 17, batch: 4, broadcastB: true, beta: 2 }, seed++);
      // Many small matrices: whole matrices per thread.
      check(native, { transA, transB, m: 33, n: 17, k: 65, batch: 16, alpha: 0.25, pad: 1 }, seed++);
    }
  });

  it('respects the byteOffset of subarray views', () => {
    let seed = 300;
    for (const [transA, transB] of transposes) {
      check(native, { transA, transB, m: 33, n: 65, k: 17, subarray: true, beta: 0.5, offset: 1 }, seed++);
      check(native, { transA, transB, m: 7, n: 130, k: 33, batch: 2, subarray: true, pad: 2 }, seed++);
    }
  });

  it('scales C by beta when k is 0 and does nothing for empty outputs', () => {
    const c = new Float32Array([1, 2, 3, Number.NaN]);
    native.gemm(false, false, 1, 3, 0, 1, new Float32Array(0), 0, 0, 0, new Float32Array(0), 0, 3, 0, 2, c, 0, 3, 0, 1);
    assert.deepEqual(Array.from(c.subarray(0, 3)), [2, 4, 6]);
    native.gemm(false, false, 0, 3, 5, 1, new Float32Array(0), 0, 5, 0, new Float32Array(0), 0, 3, 0, 0, c, 0, 3, 0, 1);
    assert.deepEqual(Array.from(c.subarray(0, 3)), [2, 4, 6]);
  });

  it('runs every blocking loop (several row, depth and column blocks) on one thread, on every path', () => {
    const all = native.threads();
    const best = native.simd();
    native.setThreads(1);
    try {
      let seed = 400;
      for (const level of native.gemmInfo().supported) {
        native.setSimd(level);
        // The blocks come from this machine's caches: size the cases from them.
        const { mc, kc, nc } = native.gemmInfo();
        check(native, { transA: false, transB: false, m: mc + 7, n: 20, k: kc + 5, beta: 0.5 }, seed++);
        check(native, { transA: true, transB: true, m: 20, n: 2 * nc + 5, k: 2 * kc + 3, pad: 1 }, seed++);
      }
    } finally {
      native.setThreads(all);
      native.setSimd(best);
    }
  });

  it('reports blocks derived from the cache sizes: whole micro-tiles, an A panel within L1', () => {
    const best = native.simd();
    try {
      for (const level of native.gemmInfo().supported) {
        native.setSimd(level);
        const info = native.gemmInfo();
        assert.equal(info.simd, level);
        assert.match(info.cacheSource, /^(cpuid|sysfs|sysctl|default)$/);
        assert.ok(info.l1d >= 4096 && info.l2 >= info.l1d, JSON.stringify(info));
        assert.equal(info.mc % info.mr, 0);
        assert.equal(info.nc % info.nr, 0);
        assert.ok(info.mr * info.kc * 4 <= info.l1d, JSON.stringify(info));
      }
    } finally {
      native.setSimd(best);
    }
  });

  it("matches gemmTs on lithe-tiny's shapes, GEMV and skinny blocks, on every path", () => {
    const best = native.simd();
    try {
      let seed = 600;
      for (const level of native.gemmInfo().supported) {
        native.setSimd(level);
        for (const [transA, transB] of transposes) {
          // Per-head attention products (K = 48), projections (K = 192), decoding GEMV (m = 1).
          check(native, { transA, transB, m: 64, n: 64, k: 48, batch: 6, alpha: 0.125 }, seed++);
          check(native, { transA, transB, m: 97, n: 130, k: 192, beta: 1, pad: 3 }, seed++);
          check(native, { transA, transB, m: 1, n: 515, k: 192 }, seed++);
          check(native, { transA, transB, m: 300, n: 1, k: 129, offset: 2 }, seed++);
          check(native, { transA, transB, m: 1, n: 1, k: 1, beta: 0.5 }, seed++);
          // A 128-column SparseGPT block, strided batches of it.
          check(native, { transA, transB, m: 128, n: 128, k: 190, batch: 3, pad: 5, offset: 1 }, seed++);
        }
      }
    } finally {
      native.setSimd(best);
    }
  });

  it('matches gemmTs on the no-packing small-m path (m = 1..4), on every path', () => {
    const best = native.simd();
    try {
      let seed = 700;
      for (const level of native.gemmInfo().supported) {
        native.setSimd(level);
        for (const [transA, transB] of transposes) {
          for (let m = 1; m <= 4; m++) {
            // Odd n and k, k below, at and past one vector, size-1 dimensions.
            check(native, { transA, transB, m, n: 37, k: 29 }, seed++);
            check(native, { transA, transB, m, n: 17, k: 7 }, seed++);
            check(native, { transA, transB, m, n: 40, k: 8, beta: 1 }, seed++);
            check(native, { transA, transB, m, n: 1, k: 1, beta: 0.5 }, seed++);
            check(native, { transA, transB, m, n: 1, k: 45 }, seed++);
            check(native, { transA, transB, m, n: 70, k: 1, alpha: 3 }, seed++);
            // alpha and beta, offsets and non-unit leading dimensions.
            check(native, { transA, transB, m, n: 67, k: 21, alpha: -1.25, beta: 0.5, pad: 3, offset: 5 }, seed++);
            check(native, { transA, transB, m, n: 33, k: 130, alpha: 0.5, beta: 0, pad: 1, offset: 2 }, seed++);
            check(native, { transA, transB, m, n: 9, k: 17, subarray: true, beta: -2, offset: 1 }, seed++);
            // Strided and broadcast batches: a column split of every entry, and entries per thread.
            check(native, { transA, transB, m, n: 133, k: 19, batch: 3, pad: 2, offset: 1, beta: -1 }, seed++);
            check(native, { transA, transB, m, n: 41, k: 9, batch: 2, broadcastB: true, alpha: 2 }, seed++);
            check(native, { transA, transB, m, n: 300, k: 65, batch: 4, broadcastA: true, beta: 0.25 }, seed++);
            // Large enough to split the columns across the pool.
            check(native, { transA, transB, m, n: 1031, k: 200, alpha: 0.5, beta: 2, pad: 1 }, seed++);
          }
        }
      }
    } finally {
      native.setSimd(best);
    }
  });

  it('gives the same answers with the slower kernel sets this CPU supports', () => {
    const best = native.simd();
    const levels: string[] = simdPathsFor();
    try {
      let seed = 500;
      for (const level of levels.slice(levels.indexOf(best) + 1)) {
        native.setSimd(level);
        assert.equal(native.simd(), level);
        for (const [transA, transB] of transposes) {
          check(native, { transA, transB, m: 33, n: 65, k: 130, alpha: 1.5, beta: -0.5, pad: 2, offset: 1 }, seed++);
          check(native, { transA, transB, m: 130, n: 17, k: 7, batch: 3, broadcastB: true }, seed++);
        }
      }
      assert.throws(() => native.setSimd('sse9'), RangeError);
    } finally {
      native.setSimd(best);
    }
  });

  it('gives the same result on one thread as on all of them', () => {
    const all = native.threads();
    const run = () => {
      const rng = new Rng(7);
      const [m, n, k] = [200, 150, 100];
      const a = Float32Array.from({ length: m * k }, () => rng.uniform());
      const b = Float32Array.from({ length: k * n }, () => rng.uniform());
      const c = new Float32Array(m * n);
      native.gemm(false, false, m, n, k, 1, a, 0, k, 0, b, 0, n, 0, 0, c, 0, n, 0, 1);
      return c;
    };
    const parallel = run();
    native.setThreads(1);
    try {
      assert.equal(native.threads(), 1);
      assert.deepEqual(run(), parallel);
    } finally {
      native.setThreads(all);
    }
  });

  it('throws instead of reading or writing out of bounds', () => {
    const [m, n, k] = [4, 5, 6];
    const a = new Float32Array(m * k);
    const b = new Float32Array(k * n);
    const c = new Float32Array(m * n);
    // Keys in the addon's positional order; overriding a key keeps its position.
    const valid = { transA: false, transB: false, m, n, k, alpha: 1, a, aOffset: 0, lda: k, strideA: 0, b };
    const rest = { bOffset: 0, ldb: n, strideB: 0, beta: 0, c, cOffset: 0, ldc: n, strideC: 0, batch: 1 };
    const call = (over: Record<string, unknown>) => () =>
      (native.gemm as (...args: unknown[]) => void)(...Object.values({ ...valid, ...rest, ...over }));
    assert.doesNotThrow(call({}));
    assert.throws(call({ a: a.subarray(1) }), RangeError);
    assert.throws(call({ bOffset: 1 }), RangeError);
    assert.throws(call({ ldc: n + 1 }), RangeError);
    assert.throws(call({ batch: 2, strideC: 1 }), RangeError);
    assert.throws(call({ transA: true }), RangeError);
    assert.throws(call({ m: -1 }), RangeError);
    assert.throws(call({ k: 1.5 }), RangeError);
    assert.throws(call({ strideA: 2 ** 52, batch: 2 ** 20 }), RangeError);
    assert.throws(call({ a: new Float64Array(m * k) }), TypeError);
    assert.throws(call({ b: Array.from(b) }), TypeError);
    assert.throws(call({ transA: 1 }), TypeError);
    assert.throws(() => (native.gemm as (...args: unknown[]) => void)(false, false, 1), TypeError);
    assert.throws(() => native.setThreads(0), RangeError);
  });
});
