import {
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmdirSync,
  rmSync,
  type Stats,
  statSync,
} from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { entryKind, stagingOwner, writeDirAtomic, writeFileAtomic, writeFileAtomicWith, writeFully } from './atomic.js';
import { OutputError, outputErrorFrom } from './errors.js';

/** Held while a process writes into an output directory; holds the writer's pid. */
export const LOCK_FILE = '.lithe.lock';
/** Lists what lithe wrote into an output directory, so that a later run knows what it may replace or remove. */
export const MANIFEST_FILE = '.lithe-output.json';

interface Manifest {
  format: 'lithe-output';
  version: 1;
  /** What wrote it (see OutputDirOptions.kind); another kind's files are never replaced or removed. */
  kind: string;
  files: string[];
}

export interface OutputDirOptions {
  /** Paths the run reads; the output may be none of them nor contain one (writing there could destroy them). */
  inputs?: readonly string[];
  /** Accept a non-empty directory lithe did not write; lithe still deletes nothing it did not write. */
  overwrite?: boolean;
  /** How messages name the directory, e.g. '--out' (default 'output directory'). */
  what?: string;
  /**
   * What is being written: 'checkpoint' (default: an HF model, from saveDecoder or prune), 'train-run', 'tokenizer',
   * 'demo'. Only an earlier output of the same kind counts as lithe's own here: a model lithe saved is not a
   * tokenizer output that `tokenizer train` may replace, nor a run directory that `train` may clean up.
   */
  kind?: string;
}

/**
 * An output directory opened by openOutputDir: validated, locked, and written one entry at a time.
 * Callers call `close()` in a `finally` (with `{ failed: true }` when the run threw).
 */
export interface OutputDir {
  /** The directory, absolute. */
  readonly path: string;
  /** Write `name` atomically (temp file, fsync, rename) and record it in the manifest. */
  writeFile(name: string, data: string | Uint8Array): void;
  /** Like writeFile, but `write` streams the content into the temp file's descriptor. */
  writeFileWith(name: string, write: (fd: number) => void): void;
  /**
   * Build sub-directory `name` in a temp sibling and swap it in whole, so its files stay consistent with each
   * other; an existing `name` is replaced only if lithe wrote it.
   */
  writeDir(name: string, fill: (tmpDir: string) => void | Promise<void>): Promise<void>;
  /** Count an entry written by other means (e.g. saveShardedSafetensors), or carried over, as this session's. */
  record(name: string): void;
  /** Refuse (OutputError) to go on when entry `name` exists and lithe did not write it: it is never replaced. */
  claim(name: string): void;
  /** Whether lithe wrote `name`: in this session or, as the previous manifest says, in an earlier one. */
  owns(name: string): boolean;
  /** Write the final manifest, and remove what the previous one listed and this session did not write again. */
  commit(): void;
  /**
   * Release the lock (idempotent). With `failed`, a directory this call created and nothing was written into
   * is removed again, so a failed run leaves no empty output behind.
   */
  close(options?: { failed?: boolean }): void;
}

/** Every output directory open in this process, so that a signal can release them all. */
const OPEN = new Set<OutputDir>();

/**
 * Close every open output directory as failed: locks released, directories this process created and left empty
 * removed. For a signal handler that then exits; complete files already written stay, listed in their manifests.
 */
export function closeOpenOutputDirs(): void {
  for (const out of [...OPEN]) out.close({ failed: true });
}

/** Whether process `pid` exists (EPERM means it does, but belongs to someone else). */
function isAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** The real path of `path`, or for one that does not exist yet, that of its nearest existing ancestor plus the rest. */
function realpathOrAncestor(path: string): string {
  const abs = resolve(path);
  for (let dir = abs; ; dir = dirname(dir)) {
    if (existsSync(dir)) return join(realpathSync(dir), relative(dir, abs));
    if (dirname(dir) === dir) return abs;
  }
}

/** Whether `name` is a single entry name, never a path: manifests and callers must not reach outside the directory. */
function isPlainName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && basename(name) === name && !name.includes(sep);
}

/** The previous manifest's kind and entries, or undefined when `dir` holds no readable lithe manifest. */
function readManifest(dir: string): { kind: string; files: Set<string> } | undefined {
  let parsed: Partial<Manifest>;
  try {
    parsed = JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8')) as Partial<Manifest>;
  } catch {
    return undefined;
  }
  if (parsed?.format !== 'lithe-output' || parsed.version !== 1 || !Array.isArray(parsed.files)) return undefined;
  const files = parsed.files.filter(
    (f): f is string => typeof f === 'string' && isPlainName(f) && f !== MANIFEST_FILE && f !== LOCK_FILE,
  );
  return { kind: typeof parsed.kind === 'string' ? parsed.kind : 'unknown', files: new Set(files) };
}

/**
 * mkdir -p, one component at a time, returning the first directory it made. Node's recursive mkdirSync spins
 * forever on some virtual filesystems (a path under /proc); single mkdir calls fail there at once.
 */
function makeDirectories(dir: string): string {
  const missing: string[] = [];
  for (let d = dir; !existsSync(d); d = dirname(d)) missing.unshift(d);
  for (const d of missing) mkdirSync(d);
  return missing[0] ?? dir;
}

/** Take `dir`'s lock, or say who holds it; a lock whose pid is dead is stale and taken over. */
function takeLock(dir: string): string {
  const lock = join(dir, LOCK_FILE);
  for (let attempt = 0; ; attempt++) {
    let fd: number;
    try {
      fd = openSync(lock, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw outputErrorFrom(err, dir);
      const pid = Number.parseInt(readFileSync(lock, 'utf8'), 10);
      if (isAlive(pid)) throw new OutputError(dir, `another lithe process (pid ${pid}) is writing to ${dir}`);
      rmSync(lock, { force: true });
      continue;
    }
    try {
      writeFully(fd, Buffer.from(`${process.pid}\n`));
    } finally {
      closeSync(fd);
    }
    return lock;
  }
}

/** Remove staging entries left by lithe processes that died between creating and renaming them; nothing else. */
function removeStaleStaging(dir: string): void {
  for (const name of readdirSync(dir)) {
    const pid = stagingOwner(name);
    if (pid !== undefined && !isAlive(pid)) rmSync(join(dir, name), { recursive: true, force: true });
  }
}

/** Everything in `dir` besides lithe's lock and its live writers' staging entries. */
function contents(dir: string): string[] {
  return readdirSync(dir).filter((name) => name !== LOCK_FILE && stagingOwner(name) === undefined);
}

/** Refuse an output that is, or contains, one of the inputs: writing there could destroy what the run reads. */
function checkInputs(path: string, what: string, inputs: readonly string[]): void {
  const out = realpathOrAncestor(path);
  for (const input of inputs) {
    const real = realpathOrAncestor(input);
    if (real === out) throw new OutputError(path, `${what} ${path} is the input ${input}; write somewhere else`);
    if (real.startsWith(out.endsWith(sep) ? out : `${out}${sep}`)) {
      throw new OutputError(path, `${what} ${path} contains the input ${input}; write somewhere else`);
    }
  }
}

/**
 * Validate, create and lock an output directory before any work is done, so that a long run cannot fail at its
 * end, and so that writing never destroys data: `path` must not be a file, an input or an input's ancestor, and
 * an existing non-empty directory must be a previous lithe output (it has a manifest) unless `overwrite`.
 */
export function openOutputDir(path: string, options: OutputDirOptions = {}): OutputDir {
  const dir = resolve(path);
  const what = options.what ?? 'output directory';
  const kind = options.kind ?? 'checkpoint';
  let existing: Stats | undefined;
  try {
    existing = statSync(dir, { throwIfNoEntry: false });
  } catch (err) {
    throw outputErrorFrom(err, dir, 'create');
  }
  if (existing && !existing.isDirectory()) {
    const link = lstatSync(dir);
    const kind = link.isSymbolicLink() ? `a symbolic link to ${entryKind(existing)}` : entryKind(existing);
    throw new OutputError(dir, `${what} ${dir} exists and is ${kind}, not a directory`);
  }
  checkInputs(dir, what, options.inputs ?? []);
  let created: string | undefined;
  if (!existing) {
    try {
      created = makeDirectories(dir);
    } catch (err) {
      throw outputErrorFrom(err, dir, 'create');
    }
  }
  // Undo mkdir from `dir` up to the first directory it made, stopping at one someone else has put something in.
  const removeCreated = () => {
    for (let d = dir; created !== undefined; d = dirname(d)) {
      try {
        rmdirSync(d);
      } catch {
        return;
      }
      if (d === created) return;
    }
  };
  let lock: string;
  try {
    lock = takeLock(dir);
  } catch (err) {
    removeCreated();
    throw err;
  }
  let previous: Set<string>;
  try {
    removeStaleStaging(dir);
    const manifest = readManifest(dir);
    const ours = manifest !== undefined && manifest.kind === kind;
    if (!ours && !options.overwrite && contents(dir).length > 0) {
      const by = manifest ? `holds a lithe ${manifest.kind}, not a ${kind}` : 'was not written by lithe';
      throw new OutputError(
        dir,
        `${dir} is not empty and ${by}; pass --overwrite to write into it (nothing lithe did not write here is replaced or deleted)`,
      );
    }
    previous = ours ? manifest.files : new Set();
  } catch (err) {
    rmSync(lock, { force: true });
    throw outputErrorFrom(err, dir, 'read');
  }
  return new LockedOutputDir(dir, lock, kind, previous, removeCreated);
}

/** The OutputDir openOutputDir hands out. */
class LockedOutputDir implements OutputDir {
  /** What this session wrote, in order. */
  private readonly written = new Set<string>();
  private closed = false;
  private readonly onExit = () => this.releaseLock();

  constructor(
    readonly path: string,
    private readonly lock: string,
    private readonly kind: string,
    /** What the previous manifest of the same kind listed. */
    private readonly previous: Set<string>,
    private readonly removeCreated: () => void,
  ) {
    process.on('exit', this.onExit);
    OPEN.add(this);
  }

  writeFile(name: string, data: string | Uint8Array): void {
    this.claim(name);
    writeFileAtomic(join(this.path, name), data);
    this.record(name);
  }

  writeFileWith(name: string, write: (fd: number) => void): void {
    this.claim(name);
    writeFileAtomicWith(join(this.path, name), write);
    this.record(name);
  }

  async writeDir(name: string, fill: (tmpDir: string) => void | Promise<void>): Promise<void> {
    this.claim(name);
    const target = join(this.path, name);
    try {
      await writeDirAtomic(target, fill);
    } catch (err) {
      throw outputErrorFrom(err, target);
    }
    this.record(name);
  }

  record(name: string): void {
    this.target(name);
    this.written.add(name);
    this.writeManifest([...new Set([...this.previous, ...this.written])]);
  }

  claim(name: string): void {
    const target = this.target(name);
    if (this.exists(name) && !this.owns(name)) {
      throw new OutputError(target, `refusing to replace ${target}: lithe did not write it (move it away first)`);
    }
  }

  owns(name: string): boolean {
    return this.written.has(name) || this.previous.has(name);
  }

  commit(): void {
    this.assertOpen(MANIFEST_FILE);
    for (const name of this.previous) {
      if (!this.written.has(name)) rmSync(join(this.path, name), { recursive: true, force: true });
    }
    this.previous.clear();
    this.writeManifest([...this.written]);
  }

  close(options: { failed?: boolean } = {}): void {
    if (this.closed) return;
    this.closed = true;
    process.off('exit', this.onExit);
    OPEN.delete(this);
    this.releaseLock();
    if (options.failed && this.written.size === 0) this.removeCreated();
  }

  private assertOpen(name: string): void {
    if (this.closed) throw new OutputError(this.path, `${this.path} was already closed; cannot write '${name}'`);
  }

  /** The path of entry `name`, once the directory is known to be still open and `name` a plain name. */
  private target(name: string): string {
    this.assertOpen(name);
    if (!isPlainName(name))
      throw new OutputError(this.path, `cannot write '${name}' in ${this.path}: not a plain name`);
    return join(this.path, name);
  }

  private writeManifest(files: string[]): void {
    const manifest: Manifest = {
      format: 'lithe-output',
      version: 1,
      kind: this.kind,
      files: files.filter((f) => this.exists(f)),
    };
    writeFileAtomic(join(this.path, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  }

  private exists(name: string): boolean {
    return lstatSync(join(this.path, name), { throwIfNoEntry: false }) !== undefined;
  }

  /** Remove the lock if it is still ours; a crash leaves it behind, but a dead pid's lock is stale anyway. */
  private releaseLock(): void {
    try {
      if (Number.parseInt(readFileSync(this.lock, 'utf8'), 10) === process.pid) rmSync(this.lock, { force: true });
    } catch {
      // Already gone.
    }
  }
}

/**
 * Open `path` as an output directory, let `fill` write into it, then commit and close it; a throw closes it as
 * failed. For callers that do all their writing at once.
 */
export async function withOutputDir<T>(
  path: string,
  options: OutputDirOptions,
  fill: (out: OutputDir) => T | Promise<T>,
): Promise<T> {
  const out = openOutputDir(path, options);
  let failed = true;
  try {
    const result = await fill(out);
    out.commit();
    failed = false;
    return result;
  } finally {
    out.close({ failed });
  }
}
