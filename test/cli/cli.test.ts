import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../../bin/lithe.js', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

describe('lithe CLI', () => {
  it('--help lists the commands', () => {
    const r = run('--help');
    assert.equal(r.status, 0);
    assert.match(r.stdout, /doctor/);
  });
  it('--version prints the package version', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'));
    const r = run('--version');
    assert.equal(r.status, 0);
    assert.equal(r.stdout.trim(), pkg.version);
  });
  it('unknown commands and flags exit 2 with one line', () => {
    for (const args of [['frobnicate'], ['--frobnicate'], ['doctor', '--frobnicate']]) {
      const r = run(...args);
      assert.equal(r.status, 2, args.join(' '));
      const errLines = r.stderr
        .trim()
        .split('\n')
        .filter((l) => !l.includes('using the TypeScript kernels'));
      assert.equal(errLines.length, 1, r.stderr);
      assert.match(errLines[0], /^lithe: /);
    }
  });
  it('doctor reports the backend and threads as JSON', () => {
    const r = run('doctor', '--json');
    assert.equal(r.status, 0);
    const info = JSON.parse(r.stdout);
    assert.ok(['native', 'ts'].includes(info.backend));
    assert.ok(info.threads >= 1);
    // Every kernel is served, f32 by native first when it loaded; f64 by ts but svdBatch (native's one f64 kernel).
    assert.equal(info.kernels.adamDelta, info.backend === 'native' ? 'native' : 'ts');
    assert.equal(info.kernels.reduce, 'ts');
    assert.equal(info.kernelsF64.svdBatch, info.backend === 'native' ? 'native' : 'ts');
    assert.ok(
      Object.entries(info.kernelsF64).every(([name, who]) => name === 'svdBatch' || String(who).startsWith('ts')),
    );
  });
  it('LITHE_BACKEND=ts forces the TypeScript kernels without a warning', () => {
    const r = spawnSync(process.execPath, [bin, 'doctor', '--json'], {
      encoding: 'utf8',
      env: { ...process.env, LITHE_BACKEND: 'ts' },
    });
    assert.equal(JSON.parse(r.stdout).backend, 'ts');
    assert.equal(r.stderr, '');
  });
});
