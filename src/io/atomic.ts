import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

// One writeSync call moves at most this much; larger buffers are written in pieces.
const WRITE_CHUNK = 1 << 30;

/** A fresh staging path beside `path`: same directory, so the final rename stays on one filesystem. */
export function stagingPath(path: string, tag = 'tmp'): string {
  return `${path}.${tag}-${process.pid}-${randomBytes(6).toString('hex')}`;
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

/** Like writeFileAtomic, but `write` streams the content into the temp file's descriptor. */
export function writeFileAtomicWith(path: string, write: (fd: number) => void): void {
  const tmp = stagingPath(path);
  let fd: number | undefined = openSync(tmp, 'wx');
  try {
    write(fd);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  syncDir(dirname(path));
}

/**
 * Build a directory in a temp sibling (`finalDir.tmp-<pid>-<random>`), then rename it into place.
 * An existing `finalDir` is renamed aside, replaced, and only then deleted, so a crash never leaves it half-written.
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
