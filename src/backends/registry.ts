import { loadNative, type NativeAddon, type NativeStatus } from './native/loader.js';
import { type GemmKernel, gemmTs } from './ts/gemm.js';

/**
 * Every kernel that has more than one implementation. Each entry takes flat typed arrays plus
 * sizes and strides; the TypeScript version is the reference, the native one must agree with it.
 */
export interface Kernels {
  gemm: GemmKernel;
}

export type BackendName = 'native' | 'ts';

export const tsKernels: Kernels = { gemm: gemmTs };

/** Native kernels for f32 data; anything else (f64 for gradient checks) goes to the TS twin. */
function nativeKernels(addon: NativeAddon): Kernels {
  return {
    gemm: (g) => {
      if (!(g.a instanceof Float32Array && g.b instanceof Float32Array && g.c instanceof Float32Array)) {
        gemmTs(g);
        return;
      }
      addon.gemm(
        g.transA,
        g.transB,
        g.m,
        g.n,
        g.k,
        g.alpha,
        g.a,
        g.aOffset,
        g.lda,
        g.strideA,
        g.b,
        g.bOffset,
        g.ldb,
        g.strideB,
        g.beta,
        g.c,
        g.cOffset,
        g.ldc,
        g.strideC,
        g.batch,
      );
    },
  };
}

interface Active {
  name: BackendName;
  kernels: Kernels;
}

let active: Active | null = null;
let warned = false;

function requestedBackend(): BackendName | null {
  const env = typeof process !== 'undefined' ? process.env.LITHE_BACKEND : undefined;
  if (env === 'ts' || env === 'native') return env;
  return null;
}

function choose(name: BackendName | null): Active {
  if (name === 'ts') return { name: 'ts', kernels: tsKernels };
  const { addon, status } = loadNative();
  if (addon) return { name: 'native', kernels: nativeKernels(addon) };
  if (!warned && typeof process !== 'undefined') {
    warned = true;
    process.stderr.write(`lithe: using the TypeScript kernels, because ${status.reason}\n`);
  }
  return { name: 'ts', kernels: tsKernels };
}

/** The kernel table in use: native when the addon loaded (unless LITHE_BACKEND=ts), else TypeScript. */
export function kernels(): Kernels {
  active ??= choose(requestedBackend());
  return active.kernels;
}

export function backendName(): BackendName {
  kernels();
  return (active as Active).name;
}

/** Switch backends at run time (tests compare the two); returns the backend actually in use. */
export function setBackend(name: BackendName): BackendName {
  active = choose(name);
  return active.name;
}

/** The native kernel table, or null when the addon is not available: for twin tests and benchmarks. */
export function nativeKernelTable(): Kernels | null {
  const { addon } = loadNative();
  return addon ? nativeKernels(addon) : null;
}

export interface BackendInfo {
  backend: BackendName;
  threads: number;
  simd: string | null;
  native: NativeStatus;
}

export function backendInfo(): BackendInfo {
  const { addon, status } = loadNative();
  const backend = backendName();
  return {
    backend,
    threads: backend === 'native' && addon ? addon.threads() : 1,
    simd: addon ? addon.simd() : null,
    native: status,
  };
}
