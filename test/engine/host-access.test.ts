import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * The folders that must not touch raw storage or read tensor values on the host: they pass storage handles to
 * kernels (backends/kernels.ts) and compute with ops; a true scalar is read with item(). Host reads belong in io/,
 * the backends, the engine and tests.
 */
const GUARDED = ['src/ops', 'src/nn', 'src/models', 'src/compress', 'src/train'];

/** What counts as touching raw storage or a backend's kernels directly, and why it is refused. */
const RULES: { pattern: RegExp; why: string }[] = [
  {
    pattern: /from\s+['"][^'"]*backends\/(ts|native)\//,
    why: 'imports a kernel directly (call it through kernelsFor)',
  },
  { pattern: /from\s+['"][^'"]*backends\/storage\.js['"]/, why: 'imports the storage internals' },
  { pattern: /\bhostArray\s*\(/, why: 'unwraps a storage handle' },
  { pattern: /\breadStorage(Sync)?\s*\(/, why: 'reads a storage handle (use a Tensor host call)' },
  { pattern: /\bHostStorage\b/, why: 'names the host storage class' },
  { pattern: /\.storage\s*(\.|\[|\?\.)/, why: "reaches into a tensor's storage handle" },
  {
    pattern: /\.(dataSync|floatData|toHost|toArray)\s*\(/,
    why: 'reads tensor values on the host (pass handles to kernels; read a scalar with item())',
  },
  { pattern: /\b(hostKernelsFor|binaryFlat)\b/, why: 'calls the host-array kernel table (use kernelsFor on handles)' },
  {
    pattern: /from\s+['"][^'"]*backends\/registry\.js['"]/,
    why: 'imports the backend registry (use backends/kernels.js)',
  },
];

/** Source without comments, lengths kept, so that a rule neither fires on prose nor misses code. */
function stripComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, (c) => c.replace(/[^\n]/g, ' '));
}

/** Every raw-storage access in one file's source, as 'file:line: why'. */
export function hostAccessViolations(file: string, source: string): string[] {
  const lines = stripComments(source).split('\n');
  const found: string[] = [];
  lines.forEach((line, i) => {
    for (const { pattern, why } of RULES) if (pattern.test(line)) found.push(`${file}:${i + 1}: ${why}`);
  });
  return found;
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return tsFiles(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

describe('host access rule', () => {
  it('no file in ops, nn, models, compress or train touches raw storage, reads values on the host or imports a kernel', () => {
    const files = GUARDED.flatMap((d) => tsFiles(join(root, d)));
    assert.ok(files.length > 20, `found only ${files.length} files under ${GUARDED.join(', ')}`);
    const violations = files.flatMap((f) => hostAccessViolations(relative(root, f), readFileSync(f, 'utf8')));
    assert.deepEqual(violations, []);
  });

  it('the scanner catches each kind of violation, and not the same words in comments', () => {
    const planted = [
      "import { reduceTs } from '../backends/ts/reduce.js';",
      "import { gemm } from '../../backends/native/table.js';",
      "import { hostArray } from '../backends/storage.js';",
      'const a = hostArray(x.storage);',
      'const b = readStorageSync(t.storage);',
      'const c = new HostStorage(new Float32Array(4));',
      'x.storage.array[0] = 1;',
      'const d = t.storage?.length;',
      'const e = w.dataSync();',
      'const f = asFloat(x).floatData();',
      'const g = await t.toHost();',
      'const h = t.toArray();',
      "hostKernelsFor('f32').gemm(args);",
      "binaryFlat('add', out, a, b);",
      "import { kernelsFor } from '../../backends/registry.js';",
    ];
    planted.forEach((line, i) => {
      assert.equal(
        hostAccessViolations('planted.ts', line).length >= 1,
        true,
        `rule missed planted line ${i}: ${line}`,
      );
    });
    const clean = [
      '// hostArray(x.storage) would unwrap it; we do not.',
      '/* import from "../backends/ts/reduce.js" */',
      'const view = new Tensor(x.storage, shape, x.dtype, strides, x.offset);',
      'const total = sum(x).item();',
      'kernelsFor(x.dtype).unary(op, x.denseStorage(), out);',
    ].join('\n');
    assert.deepEqual(hostAccessViolations('clean.ts', clean), []);
  });
});
