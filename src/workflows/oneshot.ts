import { corpusCalibration, textLinesCalibration } from '../compress/prune/calibration.js';
import { PruneError } from '../compress/prune/errors.js';
import { type PruneOptions, pruneModel } from '../compress/prune/pipeline.js';
import { parseRecipe, recipeFromOptions, recipeToPruneOptions } from '../compress/prune/recipe.js';
import { calibrationExamples, readTaskTemplate, type TaskFormat, taskCalibration } from '../data/tasks.js';
import { loadTextSource, readSource } from '../data/text-source.js';
import { ensureFits } from '../engine/memory.js';
import { claimCheckpointFiles, loadDecoder, readCheckedConfig, saveDecoder } from '../io/checkpoint.js';
import { resolveModelPath } from '../io/hf-cache.js';
import { withOutputDir } from '../io/output-dir.js';
import { checkTokenizerFits, type LitheTokenizer, loadTokenizer } from '../io/tokenizer.js';
import type { DecoderConfig } from '../models/llama/config.js';
import { calibrationBytes, parameterBytes } from '../models/llama/memory.js';
import { expectedParameterShapes } from '../models/llama/model.js';
import { buildPruneReport, type CalibrationInfo, type PruneReport, pruneReportHtml } from '../report/prune-report.js';
import { runInfo } from '../report/run-info.js';
import type { CheckpointJobOptions } from './checkpoint-job.js';
import { jobEvaluation, perplexityAfterSave, perplexityBefore } from './evaluate.js';

/** The papers' calibration length, capped by what the model can attend to. */
const MAX_DEFAULT_SEQLEN = 2048;

/** What to prune and how, when no recipe is given: PruneOptions without the run-time hooks. */
export type PruneSettings = Pick<
  PruneOptions,
  'method' | 'sparsity' | 'nm' | 'allocation' | 'owlM' | 'owlLambda' | 'magnitudeGroup' | 'skip'
>;

export interface CalibrationSettings {
  /** plain, or for task sources icl (k solved examples first) or cot (icl with the examples' rationales). */
  format?: TaskFormat;
  /** Samples to draw (default 128). */
  nsamples?: number;
  /** Tokens per sample (default: the model's context, at most 2048). */
  seqlen?: number;
  seed?: number;
  /** Solved examples before each target (icl, cot; default 3). */
  iclK?: number;
  /** A task template file (see readTaskTemplate). */
  template?: string;
}

export interface OneshotOptions extends CheckpointJobOptions {
  /** Calibration source (default sotu:train): a corpus, .txt, .jsonl of {text} or {question, answer}, or arithmetic. */
  dataset?: string;
  /** An llm-compressor recipe: YAML text, or the path of a .yaml/.yml file. Give this or `options`. */
  recipe?: string;
  /** Pruning settings, when no recipe is given. */
  options?: PruneSettings;
  calibration?: CalibrationSettings;
}

/** True when a .jsonl file's first row is a task example ({question, answer}) rather than {text}. */
function isTaskFile(source: string): boolean {
  if (!source.toLowerCase().endsWith('.jsonl')) return false;
  const first = readSource(source)
    .split('\n')
    .find((line) => line.trim() !== '');
  try {
    return first !== undefined && typeof JSON.parse(first).question === 'string';
  } catch {
    return false;
  }
}

/**
 * Calibration samples. Task sources (`arithmetic`, or a .jsonl of {question, answer, rationale?}) are laid out by
 * format: plain; icl (k solved examples before each target); cot (icl with the examples' rationales). Text sources
 * give random windows (corpus, .txt) or the first nsamples rows cut to seqlen tokens (.jsonl of {text}).
 */
export function calibrationSamples(
  tokenizer: LitheTokenizer,
  info: CalibrationInfo,
  task: { iclK?: number; template?: string } = {},
): Int32Array[] {
  if (info.source === 'arithmetic' || isTaskFile(info.source)) {
    const examples = calibrationExamples(info.source, { seed: info.seed });
    return taskCalibration(tokenizer, examples, {
      format: info.format === 'plain' ? 'plain' : 'icl',
      cot: info.format === 'cot',
      iclK: task.iclK ?? 3,
      template: task.template === undefined ? undefined : readTaskTemplate(task.template),
      nsamples: info.nsamples,
      seqlen: info.seqlen,
      seed: info.seed,
    });
  }
  if (info.format !== 'plain') {
    throw new PruneError(`calibration format ${info.format} needs a task source (arithmetic or a .jsonl of questions)`);
  }
  const { documents } = loadTextSource(info.source);
  if (info.source.toLowerCase().endsWith('.jsonl')) {
    return textLinesCalibration(tokenizer, documents.slice(0, info.nsamples), { seqlen: info.seqlen });
  }
  return corpusCalibration(tokenizer, documents, { nsamples: info.nsamples, seqlen: info.seqlen, seed: info.seed });
}

/** Recipe text from the option: a .yaml/.yml path is read, anything else is YAML itself. */
function recipeText(recipe: string): { text: string; source: string } {
  if (/\.ya?ml$/i.test(recipe) && !recipe.includes('\n')) return { text: readSource(recipe), source: recipe };
  return { text: recipe, source: 'recipe' };
}

/** Pruning settings from a recipe or options, with module names for the recipe's targets and ignore lists. */
function resolveSettings(
  options: OneshotOptions,
  config: DecoderConfig,
): { settings: PruneSettings; recipe: string; warnings: string[] } {
  // Every module name the model will have (each parameter's owners), for the recipe's targets and ignore lists.
  const moduleNames = new Set<string>();
  for (const [name] of expectedParameterShapes(config)) {
    const parts = name.split('.');
    for (let i = 1; i < parts.length; i++) moduleNames.add(parts.slice(0, i).join('.'));
  }
  if (options.recipe !== undefined) {
    if (options.options !== undefined) throw new PruneError('oneshot: give a recipe or options, not both');
    const { text, source } = recipeText(options.recipe);
    const { warnings, ...settings } = recipeToPruneOptions(parseRecipe(text, source), [...moduleNames]);
    return { settings, recipe: text, warnings };
  }
  if (options.options === undefined) throw new PruneError('oneshot: give a recipe or options ({method, sparsity})');
  return { settings: options.options, recipe: recipeFromOptions(options.options), warnings: [] };
}

/**
 * llm-compressor's `oneshot`: prune a checkpoint with calibration data and save it, with report.json, report.html
 * and recipe.yaml beside the weights. Everything is checked (model, recipe, output directory, calibration and eval
 * text, memory) before the weights are loaded; the output directory is validated and locked first, and nothing in
 * it that lithe did not write is replaced. Returns the report it writes.
 */
export async function oneshot(options: OneshotOptions): Promise<PruneReport> {
  const { onProgress, signal } = options;
  const modelDir = resolveModelPath(options.model, { revision: options.revision });
  const config = readCheckedConfig(modelDir);
  const [factorised] = Object.keys(config.lowRank ?? {});
  if (factorised !== undefined) {
    throw new PruneError(
      `${factorised} is factorised (a lithe lowrank checkpoint); pruning needs dense Linears (write one with lithe lowrank --merge)`,
    );
  }
  const tokenizer = loadTokenizer(modelDir);
  checkTokenizerFits(tokenizer, config, modelDir);
  const { settings, recipe, warnings } = resolveSettings(options, config);
  const outOptions = { inputs: [modelDir], overwrite: options.overwrite, what: 'output directory' };
  return withOutputDir(options.outputDir, outOptions, async (out) => {
    // Whatever this run will replace must be lithe's own, found out before any work.
    claimCheckpointFiles(out, modelDir);
    for (const name of ['report.json', 'report.html', 'recipe.yaml']) out.claim(name);
    const c = options.calibration ?? {};
    const needsCalibration = settings.method !== 'magnitude' || settings.allocation === 'owl';
    const calibration: CalibrationInfo | null = needsCalibration
      ? {
          source: options.dataset ?? 'sotu:train',
          format: c.format ?? 'plain',
          nsamples: c.nsamples ?? 128,
          seqlen: c.seqlen ?? Math.min(config.maxPositionEmbeddings, MAX_DEFAULT_SEQLEN),
          seed: c.seed ?? 0,
        }
      : null;
    if (calibration) {
      ensureFits(
        parameterBytes(config) + calibrationBytes(config, calibration.nsamples, calibration.seqlen, settings.method),
        `prune: calibration with ${calibration.nsamples} samples × ${calibration.seqlen} tokens`,
      );
    }
    const samplingStart = performance.now();
    const samples = calibration ? calibrationSamples(tokenizer, calibration, c) : [];
    if (calibration) calibration.nsamples = samples.length;
    const samplingSeconds = (performance.now() - samplingStart) / 1000;
    const evaluation = jobEvaluation(tokenizer, options.evaluate);

    const model = await loadDecoder(modelDir, { onProgress, signal });
    const before = await perplexityBefore(evaluation, model, { onProgress, signal });
    const result = await pruneModel(model, { ...settings, calibration: samples, onProgress, signal });
    const dtype = options.saveDtype;
    await saveDecoder(model, out, { dtype, tokenizerFrom: modelDir });
    const after = await perplexityAfterSave(evaluation, out.path, before, { onProgress, signal });
    const report = buildPruneReport(result, {
      calibration,
      perplexity: after.record,
      samplingSeconds,
      evalSeconds: after.seconds,
      run: runInfo(options.command ?? 'oneshot()', options.model, modelDir, [...(options.warnings ?? []), ...warnings]),
    });
    out.writeFile('report.json', `${JSON.stringify(report, null, 2)}\n`);
    out.writeFile('report.html', pruneReportHtml(report));
    const calibrationText = calibration
      ? `${calibration.source} (${calibration.format}), ${calibration.nsamples} samples × ${calibration.seqlen} tokens, seed ${calibration.seed}`
      : 'none (not needed)';
    // Like llm-compressor's, the recipe holds the modifiers; the comment says what else decides the result.
    const header = [
      `# Written by lithe ${report.run.lithe} for: ${report.run.command.replace(/\s+/g, ' ')}`,
      `# Calibration: ${calibrationText}.`,
      '# Give the same calibration settings with --recipe to repeat this run exactly.',
    ];
    out.writeFile('recipe.yaml', `${header.join('\n')}\n${recipe}`);
    return report;
  });
}
