import { LitheError } from '../../engine/errors.js';

/** A low-rank compression request that cannot be carried out (bad ERR, no decoder Linears, a pruned module). */
export class LowRankError extends LitheError {}
