export { LowRankError } from './errors.js';
export { balancedFactors, type LowRankStorage, mergeLowRank, storageFor } from './factorize.js';
export {
  checkLowRankOptions,
  ERR_TOLERANCE,
  type LowRankMethod,
  type LowRankModel,
  type LowRankModule,
  type LowRankOptions,
  type LowRankResult,
  lowRankCompress,
  skipMatcher,
} from './pipeline.js';
export { normalizeSpectrum, type RankPlan, type Spectrum, searchTau, thresholdPlan, uniformPlan } from './spectrum.js';
