import { availableParallelism } from 'node:os';
import { backendInfo, kernelServers } from '../backends/registry.js';
import { litheVersion } from '../version.js';
import { type CommandSpec, parseCommand } from './flags.js';

export const doctorSpec = {
  name: 'doctor',
  summary:
    'show the compute backend (native or ts), which backend serves each kernel, threads, GEMM SIMD path, cache sizes and the native addon status',
  usage: '[--json]',
  flags: { json: { kind: 'boolean', help: 'print the report as one JSON object' } },
  examples: ['lithe doctor', 'LITHE_BACKEND=ts lithe doctor --json'],
  notes: [
    'Environment: LITHE_BACKEND=native|ts forces a backend; LITHE_THREADS=N sets the native thread count; ' +
      'LITHE_SIMD=avx512|avx2|neon|portable forces the GEMM path (the row kernels pick theirs when the addon loads); ' +
      'LITHE_MEMORY_LIMIT=BYTES (or 8G) caps the memory lithe plans to use.',
  ],
} as const satisfies CommandSpec;

const kib = (bytes: number) => `${Math.round(bytes / 1024)} KiB`;

/** Kernels grouped by who serves them: 'native', 'native, else ts' (per-call fallback), 'ts'. */
function byServer(servers: { kernel: string; backends: string[] }[]): Record<string, string[]> {
  const groups: Record<string, string[]> = {};
  for (const { kernel, backends } of servers) (groups[backends.join(', else ')] ??= []).push(kernel);
  return groups;
}

/** `lithe doctor`: which kernels lithe runs on, and why. */
export function doctorCommand(argv: string[]): number {
  const values = parseCommand(doctorSpec, argv);
  const info = backendInfo();
  const report = {
    lithe: litheVersion(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpus: availableParallelism(),
    backend: info.backend,
    threads: info.threads,
    simd: info.simd,
    simdSupported: info.gemm?.supported ?? [],
    simdForced: process.env.LITHE_SIMD || null,
    gemmBlocking: info.gemm
      ? { mr: info.gemm.mr, nr: info.gemm.nr, mc: info.gemm.mc, kc: info.gemm.kc, nc: info.gemm.nc }
      : null,
    cache: info.gemm ? { l1d: info.gemm.l1d, l2: info.gemm.l2, l3: info.gemm.l3, source: info.gemm.cacheSource } : null,
    nativeAddon: info.native.loaded ? 'loaded' : info.native.built ? 'built but not loadable' : 'not built',
    nativeReason: info.native.reason,
    forced: process.env.LITHE_BACKEND ?? null,
    /** Which backend serves each kernel for f32 arguments ('native, else ts': native unless that call's shape or op is one it lacks). */
    kernels: Object.fromEntries(kernelServers('f32').map(({ kernel, backends }) => [kernel, backends.join(', else ')])),
    /** The same for f64 (gradient checks): the native addon is f32 only. */
    kernelsF64: Object.fromEntries(
      kernelServers('f64').map(({ kernel, backends }) => [kernel, backends.join(', else ')]),
    ),
  };
  if (values.json) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return 0;
  }
  const lines = [
    `lithe ${report.lithe} on Node ${report.node} (${report.platform}, ${report.cpus} CPUs)`,
    `backend:      ${report.backend}${report.forced ? ` (LITHE_BACKEND=${report.forced})` : ''}`,
    `threads:      ${report.threads}`,
    `simd:         ${report.simd ?? 'n/a'}${report.simdForced ? ` (LITHE_SIMD=${report.simdForced})` : ''}${report.simdSupported.length ? `; this CPU runs ${report.simdSupported.join(', ')}` : ''}`,
    `cache:        ${report.cache ? `L1d ${kib(report.cache.l1d)}, L2 ${kib(report.cache.l2)}, L3 ${kib(report.cache.l3)} per core (from ${report.cache.source})` : 'n/a'}`,
    `gemm blocks:  ${report.gemmBlocking ? `MR ${report.gemmBlocking.mr} x NR ${report.gemmBlocking.nr}, MC ${report.gemmBlocking.mc}, KC ${report.gemmBlocking.kc}, NC ${report.gemmBlocking.nc}` : 'n/a'}`,
    `native addon: ${report.nativeAddon}${report.nativeReason ? ` (${report.nativeReason})` : ''}`,
    'kernels (f32 arguments):',
    ...Object.entries(byServer(kernelServers('f32'))).map(([who, names]) => `  ${who}: ${names.join(', ')}`),
    'kernels (f64 arguments):',
    ...Object.entries(byServer(kernelServers('f64'))).map(([who, names]) => `  ${who}: ${names.join(', ')}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
