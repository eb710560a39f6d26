import { availableParallelism } from 'node:os';
import { backendInfo } from '../backends/registry.js';
import { parseFlags } from './args.js';
import { litheVersion } from './version.js';

/** `lithe doctor`: which kernels lithe runs on, and why. */
export function doctor(argv: string[]): number {
  const { values } = parseFlags('doctor', argv, { json: { type: 'boolean' } });
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
