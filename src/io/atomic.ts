import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  type Stats,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { OutputError, outputErrorFrom } from './errors.js';

// One writeSync call moves at most this much; larger buffers are written in pieces.
const WRITE_CHUNK = 1 << 30;

/** A fresh staging path beside `path`: same directory, so the final rename stays on one filesystem. */
export function stagingPath(path: string, tag = 'tmp'): string {
  return `${path}.${tag}-${process.pid}-${randomBytes(6).toString('hex')}`;
}

/** Matches the names stagingPath makes; group 1 is the pid of the process that made it. */
const STAGING_NAME = /\.(?:tmp|old)-(\d+)-[0-9a-f]{12}$/;

/** The pid that made staging entry `name` (file or directory), or undefined when `name` is not one. */
export function stagingOwner(name: string): number | undefined {
  const match = STAGING_NAME.exec(name);
  return match ? Number(match[1]) : undefined;
}

/** What a filesystem entry is, in words, for messages that refuse to replace it. */
export function entryKind(stats: Stats): string {
  if (stats.isFile()) return 'a regular file';
  if (stats.isDirectory()) return 'a directory';
  if (stats.isSymbolicLink()) return 'a symbolic link';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  return 'a socket';
}

/** Write every byte of `bytes` to an open file descriptor. */
export function writeFully(fd: number, bytes: Uint8Array): void {
  for (let pos = 0; pos < bytes.length; ) {
    pos += writeSync(fd, bytes, pos, Math.min(WRITE_CHUNK, bytes.length - pos));
  }
}

/** Write a file so that readers see either the old file or the complete new one: temp file, fsync, rename. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  writeFileAtomicWith(path, (fd) => writeFully(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data));
}

/**
 * Like writeFileAtomic, but `write` streams the content into the temp file's descriptor.
 * Refuses to replace anything but a regular file (a symlink, FIFO or /dev/null would silently become a file),
 * and reports operating-system failures as OutputErrors that name `path`.
 */
export function writeFileAtomicWith(path: string, write: (fd: number) => void): void {
  const tmp = stagingPath(path);
  let fd: number | undefined;
  try {
    const existing = lstatSync(path, { throwIfNoEntry: false });
    if (existing && !existing.isFile()) {
      throw new OutputError(path, `refusing to replace ${path}: not a regular file (${entryKind(existing)})`);
    }
    fd = openSync(tmp, 'wx');
  } catch (err) {
    throw outputErrorFrom(err, path);
  }
  try {
    write(fd);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw outputErrorFrom(err, path);
  }
  syncDir(dirname(path));
}

/**
 * Build a directory in a temp sibling (`finalDir.tmp-<pid>-<random>`), then rename it into place.
 * An existing `finalDir` is renamed aside, replaced, and only then deleted, so a crash never leaves it half-written.
 * Everything in an existing `finalDir` is lost: callers decide whether it may go (OutputDir.writeDir only
 * replaces directories lithe wrote).
 */
export async function writeDirAtomic(finalDir: string, fill: (tmpDir: string) => Promise<void> | void): Promise<void> {
  mkdirSync(dirname(finalDir), { recursive: true });
  const tmp = stagingPath(finalDir);
  mkdirSync(tmp);
  try {
    await fill(tmp);
    if (!existsSync(finalDir)) {
      renameSync(tmp, finalDir);
    } else {
      const old = stagingPath(finalDir, 'old');
      renameSync(finalDir, old);
      try {
        renameSync(tmp, finalDir);
      } catch (err) {
        renameSync(old, finalDir);
        throw err;
      }
      rmSync(old, { recursive: true, force: true });
    }
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  syncDir(dirname(finalDir));
}

/** Make a rename durable by fsyncing its directory; best effort, since some platforms cannot open directories. */
function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Durability is a bonus here: the rename itself already happened atomically.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
