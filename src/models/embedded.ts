import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * lithe's own small LLaMA (trained by `lithe train` on sotu:train, bf16), shipped in the package's
 * models/lithe-tiny/ so that the demo and tests need no download. See models/lithe-tiny/README.md.
 */
export const EMBEDDED_MODEL_DIR = fileURLToPath(new URL('../../../models/lithe-tiny/', import.meta.url));

/** True when the package carries the embedded model (a source checkout before it was trained does not). */
export function hasEmbeddedModel(): boolean {
  return existsSync(`${EMBEDDED_MODEL_DIR}config.json`);
}
