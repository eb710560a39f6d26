import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { LitheError } from '../../src/engine/errors.js';
import { hubCacheDir, ModelNotFoundError, resolveModelPath } from '../../src/io/hf-cache.js';

const root = mkdtempSync(join(tmpdir(), 'lithe-hf-cache-'));
after(() => rmSync(root, { recursive: true, force: true }));

const MAIN = 'a'.repeat(40);
const DEV = 'b'.repeat(40);
const OLD = 'c'.repeat(40);

/** A hub cache holding org/model at main and dev, plus a snapshot no ref names; org/noref has no refs. */
function layCache(hub: string): void {
  const repo = join(hub, 'models--org--model');
  mkdirSync(join(repo, 'refs'), { recursive: true });
  writeFileSync(join(repo, 'refs', 'main'), MAIN); // huggingface_hub writes no newline
  writeFileSync(join(repo, 'refs', 'dev'), `${DEV}\n`);
  for (const hash of [MAIN, DEV, OLD]) {
    mkdirSync(join(repo, 'snapshots', hash), { recursive: true });
    writeFileSync(join(repo, 'snapshots', hash, 'config.json'), '{}');
  }
  mkdirSync(join(hub, 'models--org--noref', 'snapshots', MAIN), { recursive: true });
}

const hub = join(root, 'hub');
layCache(hub);
const env = { HF_HUB_CACHE: hub, HOME: join(root, 'home') };
const snapshot = (hash: string) => join(hub, 'models--org--model', 'snapshots', hash);

describe('hubCacheDir', () => {
  it("follows huggingface_hub's precedence", () => {
    const home = '/home/u';
    assert.equal(hubCacheDir({ HOME: home }), '/home/u/.cache/huggingface/hub');
    assert.equal(hubCacheDir({ HOME: home, XDG_CACHE_HOME: '/xdg' }), '/xdg/huggingface/hub');
    assert.equal(hubCacheDir({ HOME: home, XDG_CACHE_HOME: '/xdg', HF_HOME: '/hf' }), '/hf/hub');
    assert.equal(hubCacheDir({ HOME: home, HF_HOME: '/hf', HUGGINGFACE_HUB_CACHE: '/legacy' }), '/legacy');
    assert.equal(hubCacheDir({ HF_HOME: '/hf', HUGGINGFACE_HUB_CACHE: '/legacy', HF_HUB_CACHE: '/new' }), '/new');
  });

  it('expands ~ and $VARS as Python does, and treats empty variables as unset', () => {
    assert.equal(hubCacheDir({ HOME: '/home/u', HF_HOME: '~/hf' }), '/home/u/hf/hub');
    assert.equal(
      hubCacheDir({ HOME: '/home/u', HF_HUB_CACHE: '$HOME/c/$' + '{X}/$UNSET', X: 'x' }),
      '/home/u/c/x/$UNSET',
    );
    assert.equal(hubCacheDir({ HOME: '/home/u', HF_HUB_CACHE: '', HF_HOME: '/hf' }), '/hf/hub');
  });
});

describe('resolveModelPath', () => {
  it('resolves a repo id through refs/main by default, and other refs by name', () => {
    assert.equal(resolveModelPath('org/model', { env }), snapshot(MAIN));
    assert.equal(resolveModelPath('org/model', { env, revision: 'dev' }), snapshot(DEV));
  });

  it('takes a commit hash as a snapshot directly', () => {
    assert.equal(resolveModelPath('org/model', { env, revision: OLD }), snapshot(OLD));
  });

  it('reads HF_HOME/hub when HF_HUB_CACHE is unset, and HF_HUB_CACHE first when set', () => {
    const hfHome = join(root, 'hf-home');
    layCache(join(hfHome, 'hub'));
    const fromHome = join(hfHome, 'hub', 'models--org--model', 'snapshots', MAIN);
    assert.equal(resolveModelPath('org/model', { env: { HF_HOME: hfHome } }), fromHome);
    assert.equal(resolveModelPath('org/model', { env: { ...env, HF_HOME: hfHome } }), snapshot(MAIN));
  });

  it('returns a local directory before looking in the cache', () => {
    const cwd = join(root, 'work');
    mkdirSync(join(cwd, 'org', 'model'), { recursive: true });
    assert.equal(resolveModelPath('org/model', { env, cwd }), join(cwd, 'org', 'model'));
    assert.equal(resolveModelPath(join(cwd, 'org'), { env }), join(cwd, 'org'));
  });

  it('says where it looked when the repo is not cached', () => {
    const repo = join(hub, 'models--org--missing');
    assert.throws(
      () => resolveModelPath('org/missing', { env, cwd: root }),
      (e: unknown) =>
        e instanceof ModelNotFoundError &&
        e instanceof LitheError &&
        e.message ===
          `model org/missing not found: no directory 'org/missing', and not in the Hugging Face cache (${repo}, revision main)`,
    );
  });

  it('names the missing ref or snapshot', () => {
    assert.throws(
      () => resolveModelPath('org/noref', { env, cwd: root }),
      /\(.*models--org--noref, revision main: no refs\/main or snapshots\/main\)$/,
    );
    assert.throws(
      () => resolveModelPath('org/model', { env, cwd: root, revision: 'v2' }),
      /revision v2: no refs\/v2 or snapshots\/v2\)$/,
    );
    const dangling = join(root, 'dangling');
    mkdirSync(join(dangling, 'models--org--model', 'refs'), { recursive: true });
    writeFileSync(join(dangling, 'models--org--model', 'refs', 'main'), DEV);
    assert.throws(
      () => resolveModelPath('org/model', { env: { HF_HUB_CACHE: dangling }, cwd: root }),
      new RegExp(`revision main: no snapshots/${DEV}\\)$`),
    );
  });

  it('refuses revisions that would leave the repo directory', () => {
    assert.throws(() => resolveModelPath('org/model', { env, cwd: root, revision: '../../x' }), /not a revision name/);
  });

  it('does not take malformed repo ids to the cache', () => {
    for (const spec of ['model', 'a/b/c', 'org/-x', 'org/x.', 'or--g/x', 'org/a..b', './org/model']) {
      assert.throws(
        () => resolveModelPath(spec, { env, cwd: root }),
        (e: unknown) => e instanceof ModelNotFoundError && e.message.includes('nor a repo id org/name'),
        spec,
      );
    }
  });

  it('refuses a file', () => {
    const file = join(root, 'file.bin');
    writeFileSync(file, '');
    assert.throws(() => resolveModelPath(file, { env }), /is not a directory/);
  });
});
