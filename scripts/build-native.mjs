// Compiles the Node-API addon with node-gyp (run by `npm install`). It never fails the install:
// on any error it says so in one line, records why in build/native-status.json, and lithe falls
// back to its TypeScript kernels. It never downloads anything: node-gyp gets a local --nodedir.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const buildDir = join(root, 'build');
const statusPath = join(buildDir, 'native-status.json');
const logPath = join(buildDir, 'native-build.log');
const addonPath = join(buildDir, 'Release', 'lithe_native.node');

function writeStatus(status) {
  mkdirSync(buildDir, { recursive: true });
  writeFileSync(statusPath, `${JSON.stringify(status)}\n`);
}

function fail(reason) {
  writeStatus({ ok: false, error: reason });
  console.log(`lithe: native addon not built (${reason}); using the TypeScript kernels`);
  process.exit(0);
}

/** Resolves a command on PATH, or null. */
function onPath(command) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, command);
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

/** npm's own bundled node-gyp, found from the npm that runs us or the npm next to this node. */
function bundledNodeGyp() {
  const npmClis = [];
  if (process.env.npm_execpath) npmClis.push(process.env.npm_execpath);
  const npm = onPath('npm');
  if (npm) npmClis.push(realpathSync(npm));
  npmClis.push(join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js'));
  for (const cli of npmClis) {
    // npm-cli.js lives in <npm>/bin; node-gyp in <npm>/node_modules/node-gyp.
    const candidate = join(dirname(cli), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

/** How to run node-gyp: [executable, leading args], or null when none is installed. */
function findNodeGyp() {
  // Inside npm lifecycle scripts npm names its node-gyp in npm_config_node_gyp.
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return [process.execPath, [fromNpm]];
  const bundled = bundledNodeGyp();
  if (bundled) return [process.execPath, [bundled]];
  const local = join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (existsSync(local)) return [process.execPath, [local]];
  const global = onPath('node-gyp');
  if (global) return [global, []];
  const npm = onPath('npm');
  if (npm) return [npm, ['exec', '--yes=false', '--', 'node-gyp']];
  return null;
}

/** A directory holding include/node/node_api.h for this node, so node-gyp has nothing to fetch. */
function findNodeDir() {
  const candidates = [process.env.npm_config_nodedir, resolve(dirname(process.execPath), '..')];
  for (const dir of candidates) {
    if (dir && existsSync(join(dir, 'include', 'node', 'node_api.h'))) return dir;
  }
  return null;
}

/** The first compiler or node-gyp error line, shortened. */
function shortReason(output, fallback) {
  const lines = output.split('\n').map((line) => line.trim());
  const line =
    lines.find((l) => /\berror\b:/i.test(l) && !l.startsWith('gyp')) ??
    lines.find((l) => l.startsWith('gyp ERR! stack Error:')) ??
    lines.find((l) => l.startsWith('gyp ERR!'));
  const reason = (line ?? fallback).replace(/^gyp ERR! (stack )?/, '').replace(/^Error: /, '');
  return reason.length > 200 ? `${reason.slice(0, 197)}...` : reason;
}

if (process.env.LITHE_SKIP_NATIVE === '1') {
  console.log('lithe: LITHE_SKIP_NATIVE=1, not building the native addon');
  process.exit(0);
}

const nodeGyp = findNodeGyp();
if (!nodeGyp) fail('node-gyp not found');
const nodeDir = findNodeDir();
if (!nodeDir) fail(`Node.js ${process.version} headers not found locally`);

const [command, leading] = nodeGyp;
const result = spawnSync(command, [...leading, 'rebuild', `--nodedir=${nodeDir}`, '--jobs=max'], {
  cwd: root,
  encoding: 'utf8',
  env: { ...process.env, npm_config_nodedir: nodeDir },
  timeout: 10 * 60 * 1000,
  maxBuffer: 64 * 1024 * 1024,
});
const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
mkdirSync(buildDir, { recursive: true });
writeFileSync(logPath, output);

if (result.error) fail(shortReason('', result.error.message));
if (result.status !== 0) fail(shortReason(output, `node-gyp exited with code ${result.status}`));
if (!existsSync(addonPath)) fail('node-gyp produced no build/Release/lithe_native.node');
writeStatus({ ok: true });
console.log('lithe: native addon built');
