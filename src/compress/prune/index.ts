// Pruning building blocks: scores, calibration statistics, masks, SparseGPT and OWL's layerwise sparsities.

export {
  type CorpusCalibrationOptions,
  corpusCalibration,
  type TextLinesCalibrationOptions,
  textLinesCalibration,
} from './calibration.js';
export { PruneError } from './errors.js';
export { applyMask, maskSparsity, nmMask, type UnstructuredMaskOptions, unstructuredMask } from './mask.js';
export { outlierRatio, owlSparsities } from './owl.js';
export {
  type ModuleSparsity,
  type PrunableModel,
  type PrunedModule,
  type PruneMethod,
  type PruneModelOptions,
  type PruneOptions,
  type PruneResult,
  pruneModel,
} from './pipeline.js';
export {
  type PruneRecipe,
  parseRecipe,
  RecipeError,
  type RecipeOptions,
  type RecipePruneOptions,
  recipeFromOptions,
  recipeSkipList,
  recipeToPruneOptions,
} from './recipe.js';
export { sparsityRecord } from './record.js';
export { magnitudeScores, wandaScores } from './scores.js';
export { type SparseGptOptions, type SparseGptResult, sparsegptPrune } from './sparsegpt.js';
export { InputStats, type InputStatsOptions } from './stats.js';
export { PRUNE_STRATEGIES, type PruneStrategy, type PruneTarget } from './strategies.js';
