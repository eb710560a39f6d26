import { TASK_FORMATS } from '../data/tasks.js';
import { UsageError } from '../engine/errors.js';
import { readCheckedConfig } from '../io/checkpoint.js';
import { oneshot, type PruneSettings } from '../workflows/oneshot.js';
import { commandLine, resolveModel, warnPastContext } from './common.js';
import { CHECKPOINT_OUTPUT_FLAGS, type CommandSpec, EVAL_PROTOCOL_FLAGS, MODEL_FLAGS, parseCommand } from './flags.js';
import { stderrProgress } from './progress-bar.js';

const RECIPE_FLAGS = ['method', 'sparsity', 'nm', 'allocation', 'owl-m', 'owl-lambda', 'group', 'skip'] as const;

export const pruneSpec = {
  name: 'prune',
  summary: "prune a checkpoint's block Linears; writes the pruned checkpoint, report.json, report.html, recipe.yaml",
  usage: '--model DIR --out DIR (--method M --sparsity S | --nm N:M | --recipe FILE.yaml) [flags]',
  flags: {
    ...MODEL_FLAGS,
    ...CHECKPOINT_OUTPUT_FLAGS,
    recipe: {
      kind: 'string',
      value: 'FILE',
      help: 'an llm-compressor recipe (SparseGPTModifier or WandaPruningModifier) instead of the flags below',
    },
    method: {
      kind: 'choice',
      choices: ['magnitude', 'wanda', 'sparsegpt'],
      help: 'pruning score (required without --recipe)',
    },
    sparsity: {
      kind: 'number',
      min: 0,
      max: 1,
      maxExclusive: true,
      defaultText: 'N/M with --nm',
      help: "fraction of each pruned Linear's weights removed",
    },
    nm: {
      kind: 'string',
      value: 'N:M',
      help: 'semi-structured: prune N of every M consecutive inputs per row (e.g. 2:4)',
    },
    group: {
      kind: 'choice',
      choices: ['row', 'layer'],
      defaultText: 'row',
      help: "magnitude only: compare weights per output row, or per whole matrix (the papers' baseline)",
    },
    allocation: {
      kind: 'choice',
      choices: ['uniform', 'owl'],
      default: 'uniform',
      help: 'per-block sparsity: uniform, or OWL from outlier ratios',
    },
    'owl-m': {
      kind: 'number',
      default: 5,
      min: 0,
      help: "OWL's outlier threshold M (a score above M × the block mean)",
    },
    'owl-lambda': {
      kind: 'number',
      default: 0.08,
      min: 0,
      max: 1,
      help: "OWL's λ: how far block sparsities spread from the target",
    },
    skip: {
      kind: 'string',
      value: 'GLOB',
      multiple: true,
      help: "module names left dense ('*' any characters), e.g. 'model.layers.0.*'",
    },
    calib: {
      kind: 'string',
      value: 'SOURCE',
      default: 'sotu:train',
      help: 'calibration: a corpus, .txt, .jsonl of {"text"}, arithmetic, or a .jsonl of {"question", "answer", "rationale"?}',
    },
    'calib-format': {
      kind: 'choice',
      choices: TASK_FORMATS,
      default: 'plain',
      help: 'task sources: plain, icl (k solved examples first) or cot',
    },
    'icl-k': { kind: 'int', default: 3, min: 0, max: 64, help: 'solved examples before each target (icl, cot)' },
    'calib-template': { kind: 'string', value: 'FILE', help: 'a task template file for the calibration layout' },
    nsamples: { kind: 'int', default: 128, max: 1e7, help: 'calibration samples' },
    seqlen: {
      kind: 'int',
      max: 1 << 20,
      defaultText: "the model's context, at most 2048",
      help: 'tokens per calibration sample',
    },
    seed: { kind: 'int', default: 0, min: 0, max: 2 ** 32 - 1, help: 'calibration sampling seed' },
    eval: {
      kind: 'string',
      value: 'SOURCE',
      help: 'measure perplexity before and after on this text, as lithe eval does',
    },
    ...EVAL_PROTOCOL_FLAGS,
    'save-dtype': {
      kind: 'choice',
      choices: ['f32', 'bf16', 'f16'],
      defaultText: "the model's",
      help: 'storage dtype of the pruned weights',
    },
    json: { kind: 'boolean', help: 'print the report as one JSON object' },
  },
  examples: [
    'lithe prune --model models/lithe-tiny --out pruned --method wanda --sparsity 0.5 --eval sotu:test',
    'lithe prune --model models/lithe-tiny --out pruned --method sparsegpt --nm 2:4',
    'lithe prune --model org/name --out pruned --recipe recipe.yaml',
  ],
  notes: [
    'Blocks are pruned one after another: each runs dense on the calibration inputs while its input statistics are ' +
      'recorded, its Linears are pruned, and its pruned outputs feed the next block. Embeddings, norms and lm_head ' +
      'are never pruned. The "after" perplexity is measured on the checkpoint as written.',
  ],
} as const satisfies CommandSpec;

/** Parse --nm 'N:M' (integers, 0 < N < M). */
export function parseNm(value: string): [number, number] {
  const match = /^(\d+):(\d+)$/.exec(value);
  const n = match ? Number(match[1]) : Number.NaN;
  const m = match ? Number(match[2]) : Number.NaN;
  if (!(n > 0 && n < m)) {
    throw new UsageError(`prune: --nm must be N:M with integers 0 < N < M (e.g. 2:4), got '${value}'`);
  }
  return [n, m];
}

type PruneValues = ReturnType<typeof parseCommand<typeof pruneSpec.flags>>;

/** The pruning settings the flags describe, checked against each other. */
function settingsFromFlags(values: PruneValues): PruneSettings {
  if (!values.method) throw new UsageError('prune: --method magnitude|wanda|sparsegpt is required (or --recipe FILE)');
  const nm = values.nm === undefined ? undefined : parseNm(values.nm);
  if (values.sparsity === undefined && !nm) throw new UsageError('prune: --sparsity S (in [0, 1)) is required');
  if (nm && values.sparsity !== undefined && values.sparsity !== nm[0] / nm[1]) {
    throw new UsageError(
      `prune: --sparsity ${values.sparsity} contradicts --nm ${nm[0]}:${nm[1]} (which prunes ${nm[0] / nm[1]})`,
    );
  }
  if (values.group !== undefined && values.method !== 'magnitude') {
    throw new UsageError(
      'prune: --group applies to --method magnitude only (Wanda compares per row, SparseGPT per block)',
    );
  }
  if (nm && values.allocation !== 'uniform') throw new UsageError('prune: --nm needs --allocation uniform');
  const owlFlag = (['owl-m', 'owl-lambda'] as const).find((flag) => values.given.has(flag));
  if (owlFlag && values.allocation !== 'owl')
    throw new UsageError(`prune: --${owlFlag} applies to --allocation owl only`);
  return {
    method: values.method,
    sparsity: values.sparsity,
    nm,
    allocation: values.allocation,
    owlM: values['owl-m'],
    owlLambda: values['owl-lambda'],
    magnitudeGroup: values.group ?? 'row',
    skip: values.skip,
  };
}

/** `lithe prune`: every input is checked (flags, output directory, calibration and eval text) before any weight is loaded. */
export async function pruneCommand(argv: string[]): Promise<number> {
  const values = parseCommand(pruneSpec, argv);
  if (values.recipe !== undefined) {
    const clash = RECIPE_FLAGS.find((flag) => values.given.has(flag));
    if (clash) throw new UsageError(`prune: --${clash} conflicts with --recipe (the recipe says how to prune)`);
  }
  const options = values.recipe === undefined ? settingsFromFlags(values) : undefined;
  const modelDir = resolveModel(values.model, values.revision);
  const config = readCheckedConfig(modelDir);
  const warnings = [
    values.seqlen === undefined ? undefined : warnPastContext(config, '--seqlen', values.seqlen),
    values.eval === undefined ? undefined : warnPastContext(config, '--eval-seqlen', values['eval-seqlen']),
  ].filter((w): w is string => w !== undefined);
  const report = await oneshot({
    model: values.model,
    revision: values.revision,
    dataset: values.calib,
    recipe: values.recipe,
    options,
    calibration: {
      format: values['calib-format'],
      nsamples: values.nsamples,
      seqlen: values.seqlen,
      seed: values.seed,
      iclK: values['icl-k'],
      template: values['calib-template'],
    },
    evaluate:
      values.eval === undefined
        ? undefined
        : { data: values.eval, seqlen: values['eval-seqlen'], windows: values['eval-windows'] },
    outputDir: values.out,
    overwrite: values.overwrite,
    saveDtype: values['save-dtype'],
    command: commandLine(['lithe', 'prune', ...argv]),
    warnings,
    onProgress: stderrProgress(),
  });
  for (const warning of report.run.warnings.slice(warnings.length))
    process.stderr.write(`lithe: warning: ${warning}\n`);
  if (values.json) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return 0;
  }
  const ppl = report.perplexity
    ? `, perplexity ${report.perplexity.before.toFixed(3)} -> ${report.perplexity.after.toFixed(3)} (${report.perplexity.protocol.data}, ${report.perplexity.protocol.windows} × ${report.perplexity.protocol.seqlen} tokens)`
    : '';
  const skipped = report.skipped.length > 0 ? `; ${report.skipped.length} modules left dense` : '';
  process.stdout.write(
    `pruned ${report.modules.length} modules with ${report.method}: sparsity ${(report.achievedSparsity * 100).toFixed(2)}% of all block Linears (pruned ones ${(report.prunedSparsity * 100).toFixed(2)}%, target ${(report.targetSparsity * 100).toFixed(2)}%)${skipped}${ppl}\nwrote ${values.out} (report.json, report.html, recipe.yaml)\n`,
  );
  return 0;
}
