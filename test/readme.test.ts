import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const work = mkdtempSync(join(tmpdir(), 'lithe-readme-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** The fenced ```js blocks of a README section. */
function jsBlocks(section: string): string[] {
  const start = readme.indexOf(`## ${section}`);
  const end = readme.indexOf('\n## ', start + 1);
  const text = readme.slice(start, end === -1 ? undefined : end);
  return [...text.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
}

/**
 * Run a section's first js block as written, from inside the package (so that `import ... from 'lithe'` resolves to
 * this checkout, a package self-reference) with the scratch directory as cwd; returns its stdout.
 */
function runExample(section: string, name: string): string {
  const [block] = jsBlocks(section);
  assert.ok(block, `the ${section} section has a js block`);
  const script = join(root, 'dist', `readme-${name}-${process.pid}.mjs`);
  writeFileSync(script, block);
  try {
    const r = spawnSync(process.execPath, [script], { cwd: work, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  } finally {
    rmSync(script, { force: true });
  }
}

describe('the README', () => {
  it('opens with the two commands', () => {
    assert.match(readme, /^# lithe\n\n```\nnpm install && npx lithe demo\nnpm test\n```/);
  });

  it("runs its library example as written (importing 'lithe' by name)", () => {
    const stdout = runExample('Library', 'example');
    assert.match(stdout, /sparsity 0\.50\d over 28 Linears/);
    assert.match(stdout, /perplexity \d+\.\d\d on 4096 tokens/);
    assert.match(stdout, /perplexity \d+\.\d\d -> \d+\.\d\d/);
    assert.ok(existsSync(join(work, 'lithe-tiny-wanda-50', 'model.safetensors')));
    assert.ok(existsSync(join(work, 'lithe-tiny-sparsegpt-2of4', 'report.html')));
  });

  it('runs its memory-efficient training example as written', () => {
    const stdout = runExample('Memory-efficient training', 'qgalore');
    // lithe-tiny's 4 layers × 7 Linears, each refreshed once in 4 steps (gap 50).
    assert.match(stdout, /loss \d+\.\d{3} after 4 steps, 28 SVDs/);
    const config = JSON.parse(readFileSync(join(work, 'lithe-tiny-qgalore', 'config.json'), 'utf8'));
    assert.equal(config.architectures[0], 'LlamaForCausalLM');
  });

  it('runs its preference alignment example as written', () => {
    const stdout = runExample('Preference alignment', 'align');
    assert.match(stdout, /step 4: loss \d+\.\d{3}, tie share \d\.\d\d/);
    assert.match(stdout, /held-out preference accuracy [01]\.\d{3} on 24 non-tie pairs/);
  });

  it('runs its low-rank example as written', () => {
    const stdout = runExample('Low-rank compression', 'lowrank');
    assert.match(stdout, /τ 0\.\d{4}: ERR 0\.50\d, parameters 2410176 -> \d+/);
    assert.match(stdout, /merged \d+ modules back to dense/);
    assert.ok(JSON.parse(readFileSync(join(work, 'lithe-tiny-welore-50', 'config.json'), 'utf8')).low_rank);
  });

  it('says nothing is built that is only planned', () => {
    const status = readme.slice(readme.indexOf('**Status.**'), readme.indexOf('`lithe demo` prunes'));
    for (const planned of ['RigL', 'speech']) {
      assert.match(status, new RegExp(`Planned, not built yet:[^]*${planned}`), planned);
      assert.doesNotMatch(status.slice(0, status.indexOf('Planned')), new RegExp(planned), planned);
    }
    for (const built of ['GaLore', 'Q-GaLore', 'DPO', 'TODO']) {
      assert.doesNotMatch(status.slice(status.indexOf('Planned')), new RegExp(built), built);
    }
  });
});
