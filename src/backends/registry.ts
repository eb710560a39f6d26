import { availableParallelism } from 'node:os';
import { type DType, type FloatArray, floatArrayDType } from '../engine/dtype.js';
import { envValue } from '../engine/env.js';
import { DTypeError, EnvError } from '../engine/errors.js';
import type { Backend, KernelEntry } from './backend.js';
import { entryServes, hostBackend, type KernelCall, kernelWrapper, onHostStorage } from './backend.js';
import type { HostKernels, KernelName, Kernels } from './kernels.js';
import { type GemmInfo, loadNative, type NativeStatus } from './native/loader.js';
import { nativeKernelEntries } from './native/table.js';
import type { BinaryOp } from './ts/elementwise.js';
import { tsKernelTable } from './ts/table.js';

export type BackendName = 'native' | 'ts';

/** The TypeScript backend: the reference entry of every kernel, in every dtype. */
const tsTable = tsKernelTable((x) => hostKernelsFor(floatArrayDType(x)).gemm);
export const tsBackend: Backend = hostBackend('ts', tsTable);

/** Every kernel's name, from the reference table (which the compiler checks is complete). */
export const KERNEL_NAMES = Object.keys(tsTable) as KernelName[];

/** The TypeScript reference kernels, called directly (twin tests, and kernels that must not depend on the chain). */
export const tsKernels = Object.fromEntries(KERNEL_NAMES.map((k) => [k, tsTable[k].run])) as unknown as HostKernels;

let nativeBackendCache: Backend | null | undefined;

/** The native addon's backend, or null when the addon is not available. */
export function nativeBackend(): Backend | null {
  if (nativeBackendCache === undefined) {
    const { addon } = loadNative();
    nativeBackendCache = addon ? hostBackend('native', nativeKernelEntries(addon)) : null;
  }
  return nativeBackendCache;
}

/**
 * One kernel for dtype along a chain of backends: the first that serves the dtype runs the call, unless its `accepts`
 * turns this very call down, in which case the next one does. Built once per (chain, kernel, dtype).
 */
function resolveKernel<K extends KernelName>(chain: readonly Backend[], name: K, dtype: DType): HostKernels[K] {
  const entries = chain
    .map((b) => b.kernels[name] as KernelEntry<K> | undefined)
    .filter((e): e is KernelEntry<K> => entryServes(e as KernelEntry<KernelName> | undefined, dtype));
  if (entries.length === 0) throw new DTypeError(`no backend serves the ${name} kernel for ${dtype}`);
  let fn = entries[entries.length - 1].run;
  for (let i = entries.length - 2; i >= 0; i--) {
    const { run, accepts } = entries[i];
    fn = accepts ? fallback(accepts as KernelCall<boolean>, run as KernelCall, fn as KernelCall) : run;
  }
  return fn;
}

/** own where take holds for this call's arguments, else next: the chain's per-call fallback. */
function fallback<F>(take: KernelCall<boolean>, own: KernelCall, next: KernelCall): F {
  return kernelWrapper((a, b, c, d, e, f, g, h, i, j) => (take(a, b, c, d, e, f, g, h, i, j) ? own : next)) as F;
}

/** Every kernel for dtype along chain. */
function resolveTable(chain: readonly Backend[], dtype: DType): HostKernels {
  return Object.fromEntries(KERNEL_NAMES.map((k) => [k, resolveKernel(chain, k, dtype)])) as unknown as HostKernels;
}

/**
 * Which backend serves kernel for dtype along chain: its name, then the next one's for calls it turns down; a composite
 * names the kernels it runs through the chain, e.g. 'ts (gemm on native, else ts)'.
 */
function servers(chain: readonly Backend[], name: KernelName, dtype: DType): string[] {
  const out: string[] = [];
  for (const b of chain) {
    const entry = b.kernels[name] as KernelEntry<KernelName> | undefined;
    if (!entryServes(entry, dtype)) continue;
    const uses = (entry?.uses ?? []).map((k) => `${k} on ${servers(chain, k, dtype).join(', else ')}`);
    out.push(uses.length > 0 ? `${b.name} (${uses.join('; ')})` : b.name);
    if (!entry?.accepts) break;
  }
  return out;
}

/** One dtype's kernels along the chain in use: as the host backends run them, and as ops call them (on handles). */
interface ResolvedKernels {
  host: HostKernels;
  handles: Kernels;
}

interface Active {
  name: BackendName;
  chain: readonly Backend[];
  tables: Map<DType, ResolvedKernels>;
}

let active: Active | null = null;
let warned = false;

/** Most native threads lithe starts, as native/gemm.h's kMaxThreads. */
export const MAX_THREADS = 256;

/**
 * The largest LITHE_THREADS accepted: 4 × availableParallelism(), at most MAX_THREADS. Oversubscribing the CPUs that
 * far only slows the kernels down, and a count in the tens of thousands makes the OS refuse to start the threads.
 */
export function threadLimit(): number {
  return Math.min(MAX_THREADS, 4 * availableParallelism());
}

/** LITHE_BACKEND: 'native', 'ts', or null when unset; anything else is an EnvError. */
export function requestedBackend(): BackendName | null {
  const value = envValue('LITHE_BACKEND');
  if (value === undefined) return null;
  if (value === 'ts' || value === 'native') return value;
  throw new EnvError('LITHE_BACKEND', value, "use 'native' or 'ts' (or leave it unset)");
}

/** LITHE_THREADS as a thread count, or null when unset; anything but an integer in [1, threadLimit()] is an EnvError. */
export function requestedThreads(): number | null {
  const value = envValue('LITHE_THREADS');
  if (value === undefined) return null;
  const n = /^[0-9]+$/.test(value) ? Number(value) : Number.NaN;
  const limit = threadLimit();
  if (!(n >= 1 && n <= limit)) {
    throw new EnvError(
      'LITHE_THREADS',
      value,
      `use an integer from 1 to ${limit} (4 × the ${availableParallelism()} CPUs available, at most ${MAX_THREADS})`,
    );
  }
  return n;
}

/** The GEMM paths native/gemm.cc has, fastest first: x86-64 has 'avx512' and 'avx2', arm64 'neon', both 'portable'. */
export const SIMD_PATHS = ['avx512', 'avx2', 'neon', 'portable'] as const;
export type SimdPath = (typeof SIMD_PATHS)[number];

/** The architecture (process.arch) each path is built for; null: every one. */
const SIMD_ARCH: Record<SimdPath, string | null> = { avx512: 'x64', avx2: 'x64', neon: 'arm64', portable: null };

/** The paths native/gemm.cc builds on an architecture (a CPU of it runs a subset: the addon's gemmInfo().supported). */
export function simdPathsFor(arch: string = process.arch): SimdPath[] {
  return SIMD_PATHS.filter((p) => SIMD_ARCH[p] === null || SIMD_ARCH[p] === arch);
}

/**
 * LITHE_SIMD as a GEMM path, or null when unset. A name not in SIMD_PATHS is an EnvError, and so is one not in
 * `runnable`: the paths this CPU runs, by default those built for its architecture.
 */
export function requestedSimd(runnable: readonly string[] = simdPathsFor()): SimdPath | null {
  const value = envValue('LITHE_SIMD');
  if (value === undefined) return null;
  const path = SIMD_PATHS.find((p) => p === value);
  if (path === undefined) {
    throw new EnvError('LITHE_SIMD', value, `use ${SIMD_PATHS.map((p) => `'${p}'`).join(', ')} (or leave it unset)`);
  }
  if (!runnable.includes(path)) {
    throw new EnvError('LITHE_SIMD', value, `this CPU runs ${runnable.map((p) => `'${p}'`).join(', ')}`);
  }
  return path;
}

/**
 * The backend to use. LITHE_THREADS is checked first, whichever backend: the native pool reads it on its own when it
 * starts (see native/gemm.cc's default_threads), so it must be valid before any native kernel runs.
 */
function choose(name: BackendName | null): Active {
  requestedThreads();
  const tsOnly = (): Active => ({ name: 'ts', chain: [tsBackend], tables: new Map() });
  if (name === 'ts') {
    requestedSimd();
    return tsOnly();
  }
  const { addon, status } = loadNative();
  const native = nativeBackend();
  if (addon && native) {
    const simd = requestedSimd(addon.gemmInfo().supported);
    if (simd !== null) addon.setSimd(simd);
    return { name: 'native', chain: [native, tsBackend], tables: new Map() };
  }
  requestedSimd();
  if (!warned && typeof process !== 'undefined') {
    warned = true;
    process.stderr.write(`lithe: using the TypeScript kernels, because ${status.reason}\n`);
  }
  return tsOnly();
}

function current(): Active {
  active ??= choose(requestedBackend());
  return active;
}

/** dtype's kernels along the chain in use, resolved on first use. */
function resolved(dtype: DType): ResolvedKernels {
  const a = current();
  let table = a.tables.get(dtype);
  if (!table) {
    const host = resolveTable(a.chain, dtype);
    table = { host, handles: onHostStorage(host) };
    a.tables.set(dtype, table);
  }
  return table;
}

/**
 * The kernels for dtype (the dtype of the data a kernel computes on), as ops call them, on storage handles: each
 * resolved once along the chain in use, native then TypeScript (LITHE_BACKEND=ts: TypeScript only). The first call
 * reads LITHE_BACKEND, LITHE_THREADS and LITHE_SIMD, so a bad value is an EnvError there, not at import.
 */
export function kernelsFor(dtype: DType): Kernels {
  return resolved(dtype).handles;
}

/**
 * The same kernels on host arrays: for code that computes in host memory by design (the engine's host reads, the
 * TypeScript kernels' composites, linear algebra on the host) and for twin tests. src/ops and the layers above use
 * kernelsFor.
 */
export function hostKernelsFor(dtype: DType): HostKernels {
  return resolved(dtype).host;
}

/**
 * out = a op b elementwise over whole contiguous arrays of out's length, through the active binary kernel;
 * b may be a scalar (rounded to out's precision). out may alias a or b.
 */
export function binaryFlat(op: BinaryOp, out: FloatArray, a: FloatArray, b: FloatArray | number): void {
  const whole = (data: FloatArray) => ({ data, strides: [1], offset: 0 });
  const scalar = (value: number) => ({
    data: out instanceof Float32Array ? Float32Array.of(value) : Float64Array.of(value),
    strides: [0],
    offset: 0,
  });
  hostKernelsFor(floatArrayDType(out)).binary(
    op,
    out,
    [out.length],
    whole(a),
    typeof b === 'number' ? scalar(b) : whole(b),
  );
}

/** The backend at the head of the chain in use. */
export function backendName(): BackendName {
  return current().name;
}

/** The chain in use, first choice first. */
export function backendChain(): readonly Backend[] {
  return current().chain;
}

/** Switch backends at run time (tests compare the two); returns the backend actually in use. */
export function setBackend(name: BackendName): BackendName {
  active = choose(name);
  return active.name;
}

/** The f32 kernels of the chain native then TypeScript, or null without the addon: for twin tests and benchmarks. */
export function nativeKernelTable(): HostKernels | null {
  const native = nativeBackend();
  return native ? resolveTable([native, tsBackend], 'f32') : null;
}

/** For each kernel, the backends that serve it for dtype along the chain in use (more than one: per-call fallback). */
export function kernelServers(dtype: DType): { kernel: KernelName; backends: string[] }[] {
  const chain = current().chain;
  return KERNEL_NAMES.map((kernel) => ({ kernel, backends: servers(chain, kernel, dtype) }));
}

export interface BackendInfo {
  backend: BackendName;
  threads: number;
  simd: string | null;
  /** The native GEMM path, the paths this CPU runs, its blocking and the cache sizes behind it; null without the addon. */
  gemm: GemmInfo | null;
  native: NativeStatus;
}

export function backendInfo(): BackendInfo {
  const backend = backendName();
  const { addon, status } = loadNative();
  return {
    backend,
    threads: backend === 'native' && addon ? addon.threads() : 1,
    simd: addon ? addon.simd() : null,
    gemm: addon ? addon.gemmInfo() : null,
    native: status,
  };
}
