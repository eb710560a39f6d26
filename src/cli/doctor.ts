import { availableParallelism } from 'node:os';
import { backendInfo } from '../backends/registry.js';
import { litheVersion } from '../version.js';
import { type CommandSpec, parseCommand } from './flags.js';

export const doctorSpec = {
  name: 'doctor',
  summary: 'show the compute backend (native or ts), threads, SIMD level and the native addon status',
  usage: '[--json]',
  flags: { json: { kind: 'boolean', help: 'print the report as one JSON object' } },
  examples: ['lithe doctor', 'LITHE_BACKEND=ts lithe doctor --json'],
  notes: [
    'Environment: LITHE_BACKEND=native|ts forces a backend; LITHE_THREADS=N sets the native thread count; ' +
      'LITHE_MEMORY_LIMIT=BYTES (or 8G) caps the memory lithe plans to use.',
  ],
} as const satisfies CommandSpec;

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
    nativeAddon: info.native.loaded ? 'loaded' : info.native.built ? 'built but not loadable' : 'not built',
    nativeReason: info.native.reason,
    forced: process.env.LITHE_BACKEND ?? null,
  };
  if (values.json) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return 0;
  }
  const lines = [
    `lithe ${report.lithe} on Node ${report.node} (${report.platform}, ${report.cpus} CPUs)`,
    `backend:      ${report.backend}${report.forced ? ` (LITHE_BACKEND=${report.forced})` : ''}`,
    `threads:      ${report.threads}`,
    `simd:         ${report.simd ?? 'n/a'}`,
    `native addon: ${report.nativeAddon}${report.nativeReason ? ` (${report.nativeReason})` : ''}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
