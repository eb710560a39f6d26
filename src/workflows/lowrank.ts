import {
  checkLowRankOptions,
  type LowRankMethod,
  type LowRankModule,
  type LowRankResult,
  lowRankCompress,
  mergeLowRank,
  type Spectrum,
  skipMatcher,
} from '../compress/lowrank/index.js';
import { claimCheckpointFiles, loadDecoder, readCheckedConfig, roundToStorage, saveDecoder } from '../io/checkpoint.js';
import { resolveModelPath } from '../io/hf-cache.js';
import { withOutputDir } from '../io/output-dir.js';
import { checkTokenizerFits, loadTokenizer } from '../io/tokenizer.js';
import type { DecoderConfig } from '../models/llama/config.js';
import { expectedParameterShapes } from '../models/llama/model.js';
import { lowRankReportHtml } from '../report/lowrank-report.js';
import { type RunInfo, runInfo } from '../report/run-info.js';
import type { CheckpointJobOptions } from './checkpoint-job.js';
import { jobEvaluation, type PerplexityRecord, perplexityAfterSave, perplexityBefore } from './evaluate.js';

export interface LowRankRunOptions extends CheckpointJobOptions {
  method: LowRankMethod;
  /** Target effective rank reduction, in (0, 1). */
  err: number;
  /** Reduce only the matrices that drop more than this fraction of their rank (default 0). */
  minRatio?: number;
  /** WeLore: this τ instead of the one searched for err. */
  tau?: number;
  skip?: readonly string[];
  /** Write a dense checkpoint (U·V merged back) that transformers loads, instead of the factorised one. */
  merge?: boolean;
}

/** The record `lithe lowrank` writes to report.json and prints with --json. */
export interface LowRankReport {
  run: RunInfo;
  method: LowRankMethod;
  targetErr: number;
  achievedErr: number;
  tau: number | null;
  minRatio: number;
  /** The checkpoint is dense (factors multiplied back); `modules` still says how each was reduced. */
  merged: boolean;
  modules: LowRankModule[];
  skipped: string[];
  /** All parameters before, and of the reduced model (factorised; a merged checkpoint holds `before` again). */
  parameters: { before: number; after: number };
  perplexity: PerplexityRecord | null;
  seconds: { spectra: number; factorise: number; eval: number };
}

/** The block Linears a decoder config implies (dense or factorised), from its state shapes alone. */
function blockLinearNames(config: DecoderConfig): string[] {
  const names = new Set<string>();
  for (const [name] of expectedParameterShapes(config)) {
    const match = /^(model\.layers\.\d+\.(?:self_attn|mlp)\.\w+_proj)\.(?:[UV]\.)?weight$/.exec(name);
    if (match) names.add(match[1]);
  }
  return [...names];
}

/** The report record of a low-rank run. */
export function buildLowRankReport(
  result: LowRankResult,
  extras: { run: RunInfo; merged: boolean; perplexity: PerplexityRecord | null; evalSeconds: number },
): LowRankReport {
  return {
    run: extras.run,
    method: result.method,
    targetErr: result.targetErr,
    achievedErr: result.achievedErr,
    tau: result.tau,
    minRatio: result.minRatio,
    merged: extras.merged,
    modules: result.modules,
    skipped: result.skipped,
    parameters: result.parameters,
    perplexity: extras.perplexity,
    seconds: { ...result.seconds, eval: extras.evalSeconds },
  };
}

/** A few spectra worth drawing: the most and the least reduced matrix, and the first and last block's first matrix. */
export function spectraToDraw(result: LowRankResult): Spectrum[] {
  const reduced = [...result.modules].sort((a, b) => a.droppedFraction - b.droppedFraction);
  const names = [
    result.modules[0]?.name,
    reduced[reduced.length - 1]?.name,
    reduced[0]?.name,
    result.modules[result.modules.length - 1]?.name,
  ];
  const unique = [...new Set(names.filter((n): n is string => n !== undefined))];
  return unique.map((n) => result.spectra.find((s) => s.name === n)).filter((s): s is Spectrum => s !== undefined);
}

/**
 * Low-rank compression of a checkpoint, end to end: check everything (options, model, tokenizer, output directory,
 * eval text) before the weights are loaded, reduce the block Linears (lowRankCompress), write the checkpoint
 * (factorised, with config.json's `low_rank` ranks, or merged dense) with report.json and report.html, each file
 * atomically, and measure perplexity before and after on the checkpoint as written. Returns the report.
 */
export async function lowRankRun(options: LowRankRunOptions): Promise<LowRankReport> {
  const { onProgress, signal } = options;
  const settings = {
    method: options.method,
    err: options.err,
    minRatio: options.minRatio,
    tau: options.tau,
    skip: options.skip,
  };
  checkLowRankOptions(settings);
  const modelDir = resolveModelPath(options.model, { revision: options.revision });
  const config = readCheckedConfig(modelDir);
  skipMatcher(blockLinearNames(config), options.skip ?? []);
  // The tokenizer is needed only to encode the eval text (its files are copied when present).
  const tokenizer = options.evaluate ? loadTokenizer(modelDir) : null;
  if (tokenizer) checkTokenizerFits(tokenizer, config, modelDir);
  const outOptions = { inputs: [modelDir], overwrite: options.overwrite, what: 'output directory' };
  return withOutputDir(options.outputDir, outOptions, async (out) => {
    claimCheckpointFiles(out, modelDir);
    for (const name of ['report.json', 'report.html']) out.claim(name);
    const evaluation = jobEvaluation(tokenizer, options.evaluate);
    const model = await loadDecoder(modelDir, { onProgress, signal });
    const before = await perplexityBefore(evaluation, model, { onProgress, signal });
    const result = await lowRankCompress(model, { ...settings, onProgress, signal });
    if (options.merge) {
      // Merge what the factorised checkpoint would hold, so that both files describe one model.
      roundToStorage(model, options.saveDtype);
      mergeLowRank(model);
    }
    await saveDecoder(model, out, { dtype: options.saveDtype, tokenizerFrom: modelDir });
    const after = await perplexityAfterSave(evaluation, out.path, before, { onProgress, signal });
    const report = buildLowRankReport(result, {
      run: runInfo(options.command ?? 'lowRank()', options.model, modelDir, [
        ...(options.warnings ?? []),
        ...result.warnings,
      ]),
      merged: options.merge ?? false,
      perplexity: after.record,
      evalSeconds: after.seconds,
    });
    out.writeFile('report.json', `${JSON.stringify(report, null, 2)}\n`);
    const spectra = spectraToDraw(result).map((sp) => ({
      name: sp.name,
      normalized: Array.from(sp.normalized.floatData()),
    }));
    out.writeFile('report.html', lowRankReportHtml({ ...report, spectra }));
    return report;
  });
}
