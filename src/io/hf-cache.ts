import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { LitheError } from '../engine/errors.js';

/** A model given as a path or a Hugging Face repo id that is neither a directory nor in the local hub cache. */
export class ModelNotFoundError extends LitheError {}

export interface ResolveModelOptions {
  /** Branch, tag or commit hash of a cached repo; default 'main'. */
  revision?: string;
  /** Environment to read HF_HUB_CACHE, HF_HOME, XDG_CACHE_HOME and HOME from; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Directory relative paths are resolved against; default the process's working directory. */
  cwd?: string;
}

/** Python's os.path.expanduser and expandvars (POSIX), as huggingface_hub applies them to its cache paths. */
function expandPath(path: string, env: NodeJS.ProcessEnv): string {
  const home = env.HOME || homedir();
  const user = path === '~' || path.startsWith('~/') ? home + path.slice(1) : path;
  return user.replace(/\$(\w+|\{[^}]*\})/g, (whole, name: string) => {
    const value = env[name.startsWith('{') ? name.slice(1, -1) : name];
    return value === undefined ? whole : value;
  });
}

/**
 * The Hugging Face hub cache directory, with huggingface_hub's precedence (constants.py): HF_HUB_CACHE, then the
 * legacy HUGGINGFACE_HUB_CACHE, then $HF_HOME/hub, then $XDG_CACHE_HOME/huggingface/hub, then
 * ~/.cache/huggingface/hub. Empty variables count as unset.
 */
export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const hub = env.HF_HUB_CACHE || env.HUGGINGFACE_HUB_CACHE;
  if (hub) return expandPath(hub, env);
  const hfHome = env.HF_HOME || join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'huggingface');
  return join(expandPath(hfHome, env), 'hub');
}

/** One part of a repo id as huggingface_hub validates it: word characters, '-', '.', starting and ending with a word character. */
const REPO_PART = /^\w(?:[\w.-]*\w)?$/;

/** `org/name` when spec is a well-formed Hugging Face model repo id (exactly one slash), else null. */
function repoId(spec: string): [string, string] | null {
  const parts = spec.split('/');
  if (parts.length !== 2) return null;
  const [org, name] = parts;
  const valid = (part: string) => REPO_PART.test(part) && !part.includes('--') && !part.includes('..');
  return valid(org) && valid(name) && name.length <= 96 ? [org, name] : null;
}

function isDirectory(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

/**
 * The directory of a model: `spec` itself when it is a directory, else the snapshot of repo id `spec` (org/name)
 * in the local Hugging Face hub cache at the revision (a ref under refs/, as huggingface_hub writes them, or a
 * snapshot's commit hash). Nothing is downloaded; a snapshot without config.json is returned as is.
 */
export function resolveModelPath(spec: string, options: ResolveModelOptions = {}): string {
  const { revision = 'main', env = process.env, cwd } = options;
  const path = cwd === undefined || isAbsolute(spec) ? spec : resolve(cwd, spec);
  if (existsSync(path)) {
    if (isDirectory(path)) return path;
    throw new ModelNotFoundError(`model ${spec}: '${path}' is not a directory`);
  }
  const id = repoId(spec);
  if (!id) throw new ModelNotFoundError(`model ${spec} not found: no directory '${spec}' (nor a repo id org/name)`);
  const repoDir = join(hubCacheDir(env), `models--${id[0]}--${id[1]}`);
  const notFound = (detail: string) =>
    new ModelNotFoundError(
      `model ${spec} not found: no directory '${spec}', and not in the Hugging Face cache ` +
        `(${repoDir}, revision ${revision}${detail})`,
    );
  if (revision === '' || isAbsolute(revision) || revision.split(/[/\\]/).includes('..')) {
    throw notFound(': not a revision name');
  }
  if (!isDirectory(repoDir)) throw notFound('');
  const ref = join(repoDir, 'refs', revision);
  const commit = existsSync(ref) && !isDirectory(ref) ? readFileSync(ref, 'utf8').trim() : revision;
  const snapshot = join(repoDir, 'snapshots', commit);
  if (isDirectory(snapshot)) return snapshot;
  throw notFound(commit === revision ? `: no refs/${revision} or snapshots/${revision}` : `: no snapshots/${commit}`);
}
