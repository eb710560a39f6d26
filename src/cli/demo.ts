import { LitheError } from '../engine/errors.js';
import { parseFlags } from './args.js';

/**
 * `lithe demo`: the pruning demo on the embedded default model. The pruning pipeline and the
 * embedded model do not exist yet, so this says so instead of pretending.
 */
export function demo(argv: string[]): number {
  parseFlags('demo', argv, {});
  throw new LitheError(
    'demo is not available yet: it needs the pruning pipeline and the embedded model, which are not built. ' +
      'Run `lithe doctor` to check the engine.',
  );
}
