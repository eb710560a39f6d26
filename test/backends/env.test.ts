import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadNative } from '../../src/backends/native/loader.js';
import {
  MAX_THREADS,
  requestedBackend,
  requestedSimd,
  requestedThreads,
  SIMD_PATHS,
  simdPathsFor,
  threadLimit,
} from '../../src/backends/registry.js';
import { EnvError, UsageError } from '../../src/engine/errors.js';

const bin = fileURLToPath(new URL('../../../bin/lithe.js', import.meta.url));
const index = new URL('../../src/index.js', import.meta.url).href;

/** Runs `fn` with the variable set (or deleted for undefined), restoring it after. */
function withEnv<T>(name: string, value: string | undefined, fn: () => T): T {
  const saved = process.env[name];
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
  try {
    return fn();
  } finally {
    if (saved === undefined) delete process.env[name];
    else process.env[name] = saved;
  }
}

const spawnWith = (env: Record<string, string>, args: string[]) =>
  spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, ...env } });

describe('LITHE_THREADS and LITHE_BACKEND', () => {
  it('accept integers from 1 to 4 × the CPUs (at most 256), the two backend names, and unset or empty', () => {
    assert.equal(threadLimit(), Math.min(MAX_THREADS, 4 * availableParallelism()));
    assert.equal(
      withEnv('LITHE_THREADS', '1', () => requestedThreads()),
      1,
    );
    assert.equal(
      withEnv('LITHE_THREADS', String(threadLimit()), () => requestedThreads()),
      threadLimit(),
    );
    assert.equal(
      withEnv('LITHE_THREADS', undefined, () => requestedThreads()),
      null,
    );
    assert.equal(
      withEnv('LITHE_THREADS', '', () => requestedThreads()),
      null,
    );
    for (const name of ['native', 'ts'] as const) {
      assert.equal(
        withEnv('LITHE_BACKEND', name, () => requestedBackend()),
        name,
      );
    }
    assert.equal(
      withEnv('LITHE_BACKEND', '', () => requestedBackend()),
      null,
    );
  });

  it('refuse anything else with an EnvError (a UsageError) naming the variable, the value and what is allowed', () => {
    for (const value of ['0', '-2', '1.5', 'abc', '4 ', String(threadLimit() + 1), '100000', '1e3']) {
      assert.throws(
        () => withEnv('LITHE_THREADS', value, () => requestedThreads()),
        (err: unknown) =>
          err instanceof EnvError &&
          err instanceof UsageError &&
          err.message.startsWith(`LITHE_THREADS=${JSON.stringify(value)} is not valid`) &&
          err.message.includes(`from 1 to ${threadLimit()}`),
        value,
      );
    }
    assert.throws(
      () => withEnv('LITHE_BACKEND', 'cuda', () => requestedBackend()),
      (err: unknown) => err instanceof EnvError && /LITHE_BACKEND="cuda" .*'native' or 'ts'/.test(err.message),
    );
  });

  it('LITHE_SIMD takes a path name this CPU runs, else an EnvError saying which it runs', () => {
    for (const path of simdPathsFor()) {
      assert.equal(
        withEnv('LITHE_SIMD', path, () => requestedSimd()),
        path,
      );
    }
    assert.deepEqual(SIMD_PATHS, ['avx512', 'avx2', 'neon', 'portable']);
    // 'neon' is an arm64 path only, the AVX ones x86-64 only.
    assert.equal(
      withEnv('LITHE_SIMD', 'neon', () => requestedSimd(simdPathsFor('arm64'))),
      'neon',
    );
    assert.throws(
      () => withEnv('LITHE_SIMD', 'neon', () => requestedSimd(simdPathsFor('x64'))),
      (err: unknown) =>
        err instanceof EnvError && /LITHE_SIMD="neon" .*this CPU runs 'avx512', 'avx2', 'portable'/.test(err.message),
    );
    assert.throws(
      () => withEnv('LITHE_SIMD', 'avx2', () => requestedSimd(simdPathsFor('arm64'))),
      (err: unknown) => err instanceof EnvError && /this CPU runs 'neon', 'portable'/.test(err.message),
    );
    assert.equal(
      withEnv('LITHE_SIMD', '', () => requestedSimd(['portable'])),
      null,
    );
    assert.throws(
      () => withEnv('LITHE_SIMD', 'avx512', () => requestedSimd(['avx2', 'portable'])),
      (err: unknown) =>
        err instanceof EnvError && /LITHE_SIMD="avx512" .*this CPU runs 'avx2', 'portable'/.test(err.message),
    );
    for (const value of ['AVX2', 'sse', 'neon ', 'auto']) {
      assert.throws(
        () => withEnv('LITHE_SIMD', value, () => requestedSimd()),
        (err: unknown) => err instanceof EnvError && err.message.includes("use 'avx512', 'avx2', 'neon', 'portable'"),
        value,
      );
    }
  });

  const { addon } = loadNative();
  it('LITHE_SIMD=portable forces the GEMM path that lithe doctor reports', { skip: addon === null }, () => {
    const r = spawnWith({ LITHE_SIMD: 'portable', LITHE_BACKEND: '' }, [bin, 'doctor', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.simd, 'portable');
    assert.deepEqual(report.simdSupported, addon?.gemmInfo().supported);
    assert.ok(report.cache.l1d > 0 && report.cache.l2 > 0, r.stdout);
    assert.ok(report.gemmBlocking.kc > 0 && report.gemmBlocking.mc % report.gemmBlocking.mr === 0, r.stdout);
  });

  for (const [name, value] of [
    ['LITHE_THREADS', '100000'],
    ['LITHE_THREADS', 'lots'],
    ['LITHE_BACKEND', 'gpu'],
    ['LITHE_SIMD', 'sse9'],
  ]) {
    it(`${name}=${value}: lithe doctor exits 2 with one line and no stack`, () => {
      const r = spawnWith({ [name]: value }, [bin, 'doctor']);
      assert.equal(r.status, 2, r.stderr);
      assert.equal(r.stdout, '');
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], new RegExp(`^lithe: ${name}="${value}" is not valid: `));
    });
  }

  it('a bad value does not fail the import, only the first kernel use', () => {
    const script = `
      const lithe = await import(${JSON.stringify(index)});
      try {
        lithe.add(lithe.ones([2]), 1);
        console.log('no error');
      } catch (err) {
        console.log(err.name);
      }`;
    const r = spawnWith({ LITHE_THREADS: '100000' }, ['--input-type=module', '-e', script]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'EnvError');
    assert.equal(r.stderr, '');
  });
});
