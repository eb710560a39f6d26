import { UsageError } from '../engine/errors.js';
import { readCheckedConfig } from '../io/checkpoint.js';
import { lowRankRun } from '../workflows/lowrank.js';
import { commandLine, resolveModel, warnPastContext } from './common.js';
import { CHECKPOINT_OUTPUT_FLAGS, type CommandSpec, MODEL_FLAGS, parseCommand } from './flags.js';
import { stderrProgress } from './progress-bar.js';

export const lowrankSpec = {
  name: 'lowrank',
  summary:
    "reduce the ranks of a checkpoint's block Linears (uniform SVD or WeLore); writes the checkpoint, report.json, report.html",
  usage: '--model DIR --out DIR --method svd|welore --err E [flags]',
  flags: {
    ...MODEL_FLAGS,
    ...CHECKPOINT_OUTPUT_FLAGS,
    method: {
      kind: 'choice',
      choices: ['svd', 'welore'],
      help: 'svd: every matrix keeps (1 − ERR) of its rank; welore: one global threshold on the normalised spectra',
    },
    err: {
      kind: 'number',
      min: 0,
      max: 1,
      maxExclusive: true,
      help: 'target effective rank reduction: Σ dropped / Σ min(out, in) over the block Linears, in (0, 1)',
    },
    'min-ratio': {
      kind: 'number',
      default: 0,
      min: 0,
      max: 1,
      maxExclusive: true,
      help: 'reduce a matrix only when it drops more than this fraction of its rank (WeLore fine-tuning: 0.4999)',
    },
    tau: {
      kind: 'number',
      min: 0,
      max: 1,
      defaultText: 'searched for --err',
      help: 'welore: use this threshold instead of searching for it (to repeat or cross-check a run)',
    },
    skip: {
      kind: 'string',
      value: 'GLOB',
      multiple: true,
      help: "module names left unchanged ('*' any characters), e.g. 'model.layers.0.*'",
    },
    merge: {
      kind: 'boolean',
      help: 'write a dense checkpoint (factors multiplied back) that transformers loads, not the factorised one',
    },
    eval: {
      kind: 'string',
      value: 'SOURCE',
      help: 'measure perplexity before and after on this text, as lithe eval does',
    },
    seqlen: { kind: 'int', default: 256, min: 2, max: 1 << 20, help: 'perplexity window length (lithe eval --seqlen)' },
    'max-windows': { kind: 'int', defaultText: 'all', help: 'score only the first N windows' },
    'save-dtype': {
      kind: 'choice',
      choices: ['f32', 'bf16', 'f16'],
      defaultText: "the model's",
      help: 'storage dtype of the weights',
    },
    json: { kind: 'boolean', help: 'print the report as one JSON object' },
  },
  examples: [
    'lithe lowrank --model models/lithe-tiny --out lowrank --method welore --err 0.5 --eval sotu:test',
    'lithe lowrank --model models/lithe-tiny --out lowrank --method svd --err 0.3 --merge',
    'lithe train --model lowrank --out ft --trainable lrc --steps 200',
  ],
  notes: [
    'A factorised checkpoint stores <name>.U.weight [out, k] and <name>.V.weight [k, in] and records every rank in ' +
      "config.json's low_rank; lithe eval, generate and train load it as any model. transformers loads the --merge " +
      'output. The "after" perplexity is measured on the checkpoint as written.',
  ],
} as const satisfies CommandSpec;

/** `lithe lowrank`: flags, model, output directory and eval text are checked before any weight is loaded. */
export async function lowrankCommand(argv: string[]): Promise<number> {
  const values = parseCommand(lowrankSpec, argv);
  if (values.method === undefined) throw new UsageError('lowrank: --method svd|welore is required');
  if (values.err === undefined) throw new UsageError('lowrank: --err E (in (0, 1)) is required');
  const modelDir = resolveModel(values.model, values.revision);
  const config = readCheckedConfig(modelDir);
  const warning = values.eval === undefined ? undefined : warnPastContext(config, '--seqlen', values.seqlen);
  const warnings = warning === undefined ? [] : [warning];
  const report = await lowRankRun({
    model: values.model,
    revision: values.revision,
    method: values.method as 'svd' | 'welore',
    err: values.err,
    minRatio: values['min-ratio'],
    tau: values.tau,
    skip: values.skip,
    merge: values.merge,
    evaluate:
      values.eval === undefined
        ? undefined
        : { data: values.eval, seqlen: values.seqlen, windows: values['max-windows'] },
    outputDir: values.out,
    overwrite: values.overwrite,
    saveDtype: values['save-dtype'],
    command: commandLine(['lithe', 'lowrank', ...argv]),
    warnings,
    onProgress: stderrProgress(),
  });
  for (const w of report.run.warnings.slice(warnings.length)) process.stderr.write(`lithe: warning: ${w}\n`);
  if (values.json) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return 0;
  }
  const counts = { factors: 0, dense: 0, unchanged: 0 };
  for (const m of report.modules) counts[m.stored]++;
  const tau = report.tau === null ? '' : ` at τ ${report.tau.toPrecision(6)}`;
  const ppl = report.perplexity
    ? `, perplexity ${report.perplexity.before.toFixed(3)} -> ${report.perplexity.after.toFixed(3)} (${report.perplexity.protocol.data}, ${report.perplexity.protocol.windows} × ${report.perplexity.protocol.seqlen} tokens)`
    : '';
  const { before, after } = report.parameters;
  process.stdout.write(
    `${report.method}: ERR ${(report.achievedErr * 100).toFixed(2)}% (target ${(report.targetErr * 100).toFixed(2)}%)${tau}; ${counts.factors} modules factorised, ${counts.dense} kept dense at reduced rank, ${counts.unchanged} unchanged; parameters ${before} -> ${after} (${((after / before) * 100).toFixed(1)}%)${ppl}\nwrote ${values.out}${report.merged ? ' (merged, dense)' : ''} (report.json, report.html)\n`,
  );
  return 0;
}
