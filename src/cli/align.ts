import { readPreferenceRows } from '../data/preference.js';
import { UsageError } from '../engine/errors.js';
import { ensureFits } from '../engine/memory.js';
import { pairLogProbs } from '../eval/preference.js';
import { loadDecoder, readCheckedConfig } from '../io/checkpoint.js';
import { checkTokenizerFits, loadTokenizer } from '../io/tokenizer.js';
import { toHfConfig } from '../models/llama/config.js';
import { parameterBytes, trainStepBytes } from '../models/llama/memory.js';
import {
  encodePreference,
  PREFERENCE_LOSSES,
  type PreferenceBatch,
  PreferenceBatcher,
  PreferenceError,
  type PreferenceLossOptions,
  preferenceDefaults,
  preferenceObjective,
  preferenceTokens,
  TODO_BETA,
} from '../train/preference.js';
import { plural, resolveModel, warnPastContext } from './common.js';
import { type CommandSpec, MODEL_FLAGS, parseCommand } from './flags.js';
import {
  checkOptimizationFlags,
  checkRunDir,
  OPTIMIZATION_FLAGS,
  OPTIMIZATION_RESUME_FLAGS,
  type RunRecord,
  runTrainingJob,
  saveDtypeOf,
} from './training-job.js';

export const alignSpec = {
  name: 'align',
  summary: 'preference alignment: DPO, its variants, or TODO (with ties) against a frozen reference',
  usage: '--model DIR --data FILE.jsonl --out DIR [--loss todo|sigmoid|...] [flags]',
  flags: {
    out: {
      kind: 'string',
      value: 'DIR',
      required: true,
      help: 'run directory: metrics.jsonl, checkpoint/ (resumable), model/ (the aligned HF checkpoint)',
    },
    ...MODEL_FLAGS,
    data: {
      kind: 'string',
      value: 'FILE',
      required: true,
      help: 'preference rows {"prompt", "chosen", "rejected", "tie"?} (TRL\'s and UltraFeedback\'s shape), one per line',
    },
    ref: {
      kind: 'string',
      value: 'DIR',
      defaultText: 'the --model',
      help: 'the reference model the policy is anchored to',
    },
    'precompute-ref': {
      kind: 'boolean',
      help: 'score every pair under the reference once, before training, so the reference model does not stay in memory',
    },
    loss: {
      kind: 'choice',
      choices: PREFERENCE_LOSSES,
      default: 'sigmoid',
      help: 'sigmoid (DPO), cdpo, robust, hinge, ipo, or todo (DPO with ties, Rao-Kupper); only todo uses the tie flags, the others train a tie as an ordinary pair',
    },
    beta: {
      kind: 'number',
      min: 0,
      defaultText: `0.1 (todo: ${TODO_BETA})`,
      help: 'β, the KL anchor to the reference',
    },
    alpha: { kind: 'number', min: 0, default: 0.5, help: "todo's tie margin α > 0 (its code's θ = −α)" },
    'label-smoothing': {
      kind: 'number',
      min: 0,
      max: 0.5,
      maxExclusive: true,
      default: 0,
      help: 'ε, the assumed share of flipped labels (cdpo, robust, todo; cdpo and robust need ε > 0)',
    },
    'max-length': {
      kind: 'int',
      default: 512,
      min: 2,
      max: 1 << 16,
      help: 'prompt plus answer tokens kept per sequence (longer answers are cut)',
    },
    batch: { kind: 'int', default: 8, max: 1 << 16, help: 'preference pairs per micro-batch (2 sequences each)' },
    ...OPTIMIZATION_FLAGS,
    lr: { ...OPTIMIZATION_FLAGS.lr, default: 1e-6, help: "peak learning rate (TRL's default)" },
    'weight-decay': {
      ...OPTIMIZATION_FLAGS['weight-decay'],
      default: 0,
      help: "decoupled weight decay (TRL's default 0)",
    },
  },
  examples: [
    'lithe data arithmetic --format preference --n 4000 --ties 0.2 --out prefs.jsonl',
    'lithe align --model runs/sft/model --data prefs.jsonl --loss todo --out runs/todo --steps 200 --lr 5e-5',
    'lithe align --model runs/sft/model --data prefs.jsonl --loss sigmoid --beta 0.1 --precompute-ref --out runs/dpo',
    'lithe eval --model runs/todo/model --ref runs/sft/model --preference prefs-test.jsonl',
  ],
  notes: [
    "metrics.jsonl logs TRL's metrics (rewards/chosen, rewards/rejected, rewards/margins, rewards/accuracies over non-tie pairs, logps/chosen, logps/rejected) plus ties/share and ties/loss.",
    'Ctrl-C or SIGTERM finishes the current step and writes a checkpoint; a second one quits at once without one.',
  ],
} as const satisfies CommandSpec;

const RESUME_FLAGS = [
  'data',
  'batch',
  'max-length',
  'loss',
  'beta',
  'alpha',
  'label-smoothing',
  'ref',
  'precompute-ref',
  ...OPTIMIZATION_RESUME_FLAGS,
] as const;

/** `lithe align`: train a policy on preference pairs against a frozen (or precomputed) reference. */
export async function alignCommand(argv: string[]): Promise<number> {
  const values = parseCommand(alignSpec, argv);
  const warmup = checkOptimizationFlags('align', values);
  const modelDir = resolveModel(values.model, values.revision);
  const refDir = values.ref === undefined ? modelDir : resolveModel(values.ref, values.revision);
  let lossOptions: Required<PreferenceLossOptions>;
  try {
    lossOptions = preferenceDefaults({
      loss: values.loss,
      beta: values.beta,
      alpha: values.alpha,
      labelSmoothing: values['label-smoothing'],
    });
  } catch (err) {
    if (err instanceof PreferenceError) {
      // The library's option names, as the flags that set them.
      const flags = { labelSmoothing: '--label-smoothing', beta: '--beta', alpha: '--alpha' };
      const message = err.message.replace(
        /\b(labelSmoothing|beta|alpha)\b/g,
        (name) => flags[name as keyof typeof flags],
      );
      throw new UsageError(`align: ${message}`);
    }
    throw err;
  }
  if (values.given.has('alpha') && values.loss !== 'todo') throw new UsageError('align: --alpha goes with --loss todo');
  const config = readCheckedConfig(modelDir);
  const refConfig = refDir === modelDir ? config : readCheckedConfig(refDir);
  if (refConfig.vocabSize !== config.vocabSize) {
    throw new UsageError(
      `align: --ref has ${refConfig.vocabSize} tokens, --model ${config.vocabSize}; they must share a tokenizer`,
    );
  }
  const tokenizer = loadTokenizer(modelDir);
  checkTokenizerFits(tokenizer, config, modelDir);
  const maxLength = values['max-length'];
  warnPastContext(config, '--max-length', maxLength);
  const referenceBytes = values['precompute-ref'] ? 0 : parameterBytes(refConfig);
  ensureFits(
    parameterBytes(config) + referenceBytes + trainStepBytes(config, 2 * values.batch, maxLength),
    `align: one step at --batch ${values.batch} pairs × ${maxLength} tokens`,
  );
  const run: RunRecord = {
    format: 'lithe-train-run',
    config: toHfConfig(config),
    flags: {
      ...Object.fromEntries(RESUME_FLAGS.map((flag) => [flag, values[flag]])),
      ref: refDir,
      beta: lossOptions.beta,
    },
  };
  checkRunDir('align', values, run);
  // Read (and so checked) before --out is locked, so that a bad --data costs nothing.
  const rows = readPreferenceRows(values.data);

  const ties = rows.filter((r) => r.tie).length;
  if (ties > 0 && values.loss !== 'todo') {
    process.stderr.write(
      `lithe: ${plural(ties, 'tie pair')} of ${rows.length} trained as ordinary pairs: the ${values.loss} loss has no tie term (--loss todo has)\n`,
    );
  }
  return runTrainingJob<PreferenceBatch>({
    command: 'align',
    values,
    run,
    inputs: [modelDir, refDir],
    hyper: { lr: values.lr, weightDecay: values['weight-decay'] },
    warmup,
    tokenizer,
    saveDtype: saveDtypeOf(values['save-dtype'], config),
    setup: async (onProgress) => {
      const pairs = rows.map((row) => encodePreference(tokenizer, row));
      const batcher = new PreferenceBatcher(pairs, { batchSize: values.batch, maxLength, seed: values.seed });
      const model = await loadDecoder(modelDir, { onProgress });
      const referenceModel = await loadDecoder(refDir, { onProgress });
      // Precomputed, the reference model is dropped once its log-probabilities are in.
      const reference = values['precompute-ref']
        ? await pairLogProbs(referenceModel, pairs, { batchSize: values.batch, maxLength, onProgress })
        : referenceModel;
      return {
        model,
        batcher,
        loss: preferenceObjective(reference, lossOptions),
        tokens: preferenceTokens,
        frozen: 'chosen' in reference ? [] : [reference],
        showMetrics: {
          'rewards/margins': 'margin',
          'rewards/accuracies': 'acc',
          ...(values.loss === 'todo' && { 'ties/loss': 'tie loss' }),
        },
      };
    },
  });
}
