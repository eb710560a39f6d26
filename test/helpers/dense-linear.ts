import { Linear } from '../../src/nn/linear.js';
import type { LinearLayer } from '../../src/nn/low-rank-linear.js';

/** A model projection that a test expects to be dense, as a Linear (a factorised one fails the test). */
export function dense(layer: LinearLayer): Linear {
  if (!(layer instanceof Linear)) throw new Error(`expected a dense Linear, got ${layer.constructor.name}`);
  return layer;
}
