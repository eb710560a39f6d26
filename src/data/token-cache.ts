import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { OnProgress } from '../engine/progress.js';
import { writeFileAtomic } from '../io/atomic.js';
import { encodeDocuments, type LitheTokenizer } from '../io/tokenizer.js';

// Bumped when the cached stream's meaning changes (today: documents each followed by EOS, encodeDocuments).
const FORMAT = 'lithe-token-ids-v1';

/** Where token ids are cached: $LITHE_CACHE, else $XDG_CACHE_HOME/lithe, else ~/.cache/lithe. */
export function tokenCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.LITHE_CACHE) return join(env.LITHE_CACHE, 'tokens');
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'lithe', 'tokens');
}

export interface CachedEncodeOptions {
  /** Cache directory (default tokenCacheDir()); null turns the cache off. */
  cacheDir?: string | null;
  onProgress?: OnProgress;
}

/**
 * encodeDocuments, cached on disk under a key of the tokenizer.json bytes and the documents' text, so that a
 * second run on the same corpus skips tokenising. A cache that cannot be read or written is silently bypassed.
 */
export function encodeDocumentsCached(
  tokenizer: LitheTokenizer,
  documents: readonly string[],
  options: CachedEncodeOptions = {},
): { ids: Int32Array; cached: boolean } {
  const dir = options.cacheDir === undefined ? tokenCacheDir() : options.cacheDir;
  if (dir === null) return { ids: encodeDocuments(tokenizer, documents, options), cached: false };
  const hash = createHash('sha256').update(FORMAT).update(JSON.stringify(tokenizer.toJSON()));
  for (const doc of documents) hash.update(String(doc.length)).update(':').update(doc);
  const file = join(dir, `${hash.digest('hex').slice(0, 32)}.i32`);
  try {
    const bytes = readFileSync(file);
    if (bytes.length % 4 === 0) {
      const ids = new Int32Array(bytes.length / 4);
      new Uint8Array(ids.buffer).set(bytes);
      return { ids, cached: true };
    }
  } catch {
    // A miss: encode below.
  }
  const ids = encodeDocuments(tokenizer, documents, options);
  try {
    mkdirSync(dir, { recursive: true });
    writeFileAtomic(file, new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength));
  } catch {
    // The cache is an optimisation; a read-only or full disk only costs the next run its tokenising time.
  }
  return { ids, cached: false };
}
