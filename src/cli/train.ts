import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadTextSource } from '../data/text-source.js';
import { encodeDocumentsCached } from '../data/token-cache.js';
import { UsageError } from '../engine/errors.js';
import { ensureFits } from '../engine/memory.js';
import { perplexity } from '../eval/perplexity.js';
import { loadDecoder, readCheckedConfig, saveDecoder } from '../io/checkpoint.js';
import { openOutputDir } from '../io/output-dir.js';
import { checkTokenizerFits, loadTokenizer } from '../io/tokenizer.js';
import { type DecoderConfig, parseDecoderConfig, toHfConfig } from '../models/llama/config.js';
import { parameterBytes, trainStepBytes } from '../models/llama/memory.js';
import { DecoderForCausalLM } from '../models/llama/model.js';
import { TokenBatcher } from '../train/batches.js';
import { causalLmLoss, causalLmTokens } from '../train/causal-lm.js';
import { CHECKPOINT_DIR, holdsTrainingRun, METRICS_FILE, train } from '../train/loop.js';
import { AdamW } from '../train/optim/adamw.js';
import { DEFAULT_GALORE_TARGETS, GaLoreAdamW, type GaLoreGroupsOptions, galoreGroups } from '../train/optim/galore.js';
import { decayGroups, OptimizerError } from '../train/optim/optimizer.js';
import { QGaLoreAdamW, type QGaLoreOptions, qgaloreGroups } from '../train/optim/qgalore.js';
import { SGD } from '../train/optim/sgd.js';
import { cosineSchedule } from '../train/schedule.js';
import { LRC_RECIPE, restrictTraining, type TrainableSet } from '../train/trainable.js';
import { resolveModel, warnPastContext } from './common.js';
import { type CommandSpec, parseCommand } from './flags.js';
import { stderrProgress } from './progress-bar.js';

/**
 * LLaMA-style presets. `tiny` (2.4M parameters with a 4,096-token vocabulary, tied embeddings) is the
 * embedded model's shape and trains in about 20 minutes on two cores; `small` is llama-ref's shape.
 */
export const PRESETS = {
  tiny: { layers: 4, hidden: 192, heads: 4, kvHeads: 2, intermediate: 512, tieEmbeddings: true },
  small: { layers: 8, hidden: 384, heads: 6, kvHeads: 2, intermediate: 1024, tieEmbeddings: false },
} as const;

const ARCHITECTURE_FLAGS = ['preset', 'layers', 'hidden', 'heads', 'kv-heads', 'intermediate', 'vocab'] as const;

export const trainSpec = {
  name: 'train',
  summary: 'train a LLaMA-style causal LM from a preset (with overrides) or continue a checkpoint',
  usage: '--out DIR (--tokenizer DIR|FILE [--preset tiny|small] | --model DIR) [flags]',
  flags: {
    out: {
      kind: 'string',
      value: 'DIR',
      required: true,
      help: 'run directory: metrics.jsonl, checkpoint/ (resumable), model/ (the final HF checkpoint)',
    },
    model: {
      kind: 'string',
      value: 'DIR',
      help: 'continue training this checkpoint (or org/name in the Hugging Face cache) instead of a preset',
    },
    revision: { kind: 'string', value: 'REV', default: 'main', help: 'Hugging Face cache revision of --model' },
    tokenizer: {
      kind: 'string',
      value: 'DIR|FILE',
      help: "tokenizer directory or tokenizer.json (default with --model: the model's own)",
    },
    preset: {
      kind: 'choice',
      choices: Object.keys(PRESETS),
      defaultText: 'tiny (without --model)',
      help: "tiny: lithe-tiny's shape (4 layers, hidden 192, 4/2 heads, MLP 512); small: llama-ref's (8, 384, 6/2, 1024)",
    },
    layers: { kind: 'int', max: 1024, defaultText: "the preset's", help: 'decoder layers' },
    hidden: { kind: 'int', max: 65536, defaultText: "the preset's", help: 'hidden size' },
    heads: { kind: 'int', max: 1024, defaultText: "the preset's", help: 'attention heads' },
    'kv-heads': {
      kind: 'int',
      max: 1024,
      defaultText: "the preset's",
      help: 'key/value heads (grouped-query attention)',
    },
    intermediate: { kind: 'int', max: 1 << 18, defaultText: "the preset's", help: 'MLP intermediate size' },
    vocab: {
      kind: 'int',
      max: 1 << 22,
      defaultText: "the tokenizer's",
      help: 'embedding rows (at least the tokenizer size)',
    },
    data: {
      kind: 'string',
      value: 'SOURCE',
      default: 'sotu:train',
      help: 'training text: a corpus, .txt or .jsonl; several joined by commas',
    },
    val: { kind: 'string', value: 'SOURCE', help: 'validation text for perplexity during training (e.g. sotu:val)' },
    seqlen: { kind: 'int', default: 256, max: 1 << 16, help: 'tokens per training sequence' },
    batch: { kind: 'int', default: 16, max: 1 << 16, help: 'sequences per micro-batch' },
    'grad-accum': { kind: 'int', default: 1, max: 1 << 16, help: 'micro-batches per optimiser step' },
    steps: { kind: 'int', default: 200, max: 1e9, help: 'optimiser steps in total (counting those before --resume)' },
    trainable: {
      kind: 'choice',
      choices: ['all', 'lrc'],
      default: 'all',
      help: "all parameters, or lrc: only the U and V factors of a lithe lowrank checkpoint's factorised Linears (WeLore)",
    },
    lr: {
      kind: 'number',
      default: 1e-3,
      min: 0,
      max: 10,
      help: 'peak learning rate (--trainable lrc: 5e-5 unless given)',
    },
    'min-lr-ratio': { kind: 'number', default: 0.1, min: 0, max: 1, help: 'final LR of the cosine schedule / peak' },
    warmup: { kind: 'int', min: 0, defaultText: 'steps / 20', help: 'linear warmup steps (0: none)' },
    'weight-decay': {
      kind: 'number',
      default: 0.1,
      min: 0,
      max: 10,
      help: 'decoupled weight decay, not on norms (--trainable lrc: 0 unless given)',
    },
    clip: { kind: 'number', default: 1, min: 0, help: 'clip the global gradient norm to this (0: no clipping)' },
    optimizer: {
      kind: 'choice',
      choices: ['adamw', 'sgd', 'galore', 'qgalore'],
      default: 'adamw',
      help: 'AdamW (betas 0.9, 0.95), SGD, GaLore: AdamW with low-rank projected moments on --galore-targets, or Q-GaLore: GaLore with int8 weights and int4 projections there',
    },
    'galore-rank': { kind: 'int', default: 128, min: 1, max: 1 << 16, help: 'GaLore projection rank' },
    'galore-gap': {
      kind: 'int',
      default: 200,
      min: 1,
      max: 1e9,
      help: 'steps between GaLore subspace refreshes (an SVD of the gradient)',
    },
    'galore-scale': { kind: 'number', default: 0.25, min: 0, max: 100, help: 'GaLore scale α of the projected update' },
    'galore-targets': {
      kind: 'string',
      value: 'GLOB',
      default: DEFAULT_GALORE_TARGETS,
      help: "parameters GaLore projects ('*' any characters, comma-separated); the rest use AdamW",
    },
    'qgalore-rounding': {
      kind: 'choice',
      choices: ['stochastic', 'nearest'],
      default: 'stochastic',
      help: 'how Q-GaLore requantises its int8 weights after each update',
    },
    'qgalore-group-size': {
      kind: 'int',
      default: 256,
      min: 1,
      max: 1 << 20,
      help: 'elements per quantisation group of the int8 weights and int4 projections',
    },
    'qgalore-cos-threshold': {
      kind: 'number',
      default: 0.4,
      min: 0,
      max: 1,
      help: "Q-GaLore's lazy subspace: double a weight's refresh gap once the mean |cos| of its last refreshes reaches this",
    },
    'qgalore-window': {
      kind: 'int',
      default: 5,
      min: 0,
      max: 1 << 16,
      help: 'refreshes the lazy subspace averages over (0: refresh every --galore-gap steps, as GaLore)',
    },
    momentum: { kind: 'number', default: 0.9, min: 0, max: 1, help: 'SGD momentum' },
    seed: { kind: 'int', default: 0, min: 0, max: 2 ** 32 - 1, help: 'seed of the initialisation and the batch order' },
    'log-every': { kind: 'int', default: 10, help: 'log (stderr and metrics.jsonl) every N steps' },
    'eval-every': { kind: 'int', default: 100, help: 'validation perplexity every N steps (with --val)' },
    'eval-windows': { kind: 'int', default: 16, help: 'validation windows of --seqlen tokens' },
    'checkpoint-every': { kind: 'int', default: 100, help: 'write checkpoint/ every N steps' },
    'save-dtype': {
      kind: 'choice',
      choices: ['f32', 'bf16', 'f16'],
      defaultText: "the --model's dtype, else f32",
      help: 'storage dtype of model/ and checkpoint/ weights (narrower ones keep f32 copies for exact resume)',
    },
    resume: { kind: 'boolean', help: 'continue the run in --out from its checkpoint, bit for bit' },
    overwrite: {
      kind: 'boolean',
      help: 'start over in an --out that already holds a run, or write into a non-empty directory (deletes nothing lithe did not write)',
    },
    'no-cache': { kind: 'boolean', help: 'tokenise the data again instead of reading cached token ids ($LITHE_CACHE)' },
  },
  examples: [
    'lithe train --out runs/tiny --tokenizer models/lithe-tiny --preset tiny --steps 1200 --val sotu:val',
    'lithe train --out runs/tiny --tokenizer models/lithe-tiny --steps 1200 --resume',
    'lithe train --out runs/ft --model models/lithe-tiny --data moby:train --steps 100 --lr 3e-4',
    'lithe train --out runs/lrc --model lowrank --trainable lrc --steps 200',
    'lithe train --out runs/galore --tokenizer models/lithe-tiny --preset small --optimizer galore --galore-rank 128 --lr 1e-2',
    'lithe train --out runs/qgalore --tokenizer models/lithe-tiny --preset small --optimizer qgalore --galore-rank 128 --lr 1e-2',
  ],
  notes: [
    'Ctrl-C or SIGTERM finishes the current step and writes a checkpoint; a second one quits at once without one.',
  ],
} as const satisfies CommandSpec;

/** What must match for --resume to continue a run exactly; written to DIR/run.json. */
interface RunRecord {
  format: 'lithe-train-run';
  config: Record<string, unknown>;
  /** The flags that shape the data order and the optimiser, by name (--steps may grow on a resume). */
  flags: Record<string, unknown>;
}
const RUN_FILE = 'run.json';
const RESUME_FLAGS = [
  'batch',
  'seqlen',
  'grad-accum',
  'data',
  'seed',
  'lr',
  'min-lr-ratio',
  'weight-decay',
  'optimizer',
  'momentum',
  'clip',
  'trainable',
  'galore-rank',
  'galore-gap',
  'galore-scale',
  'galore-targets',
  'qgalore-rounding',
  'qgalore-group-size',
  'qgalore-cos-threshold',
  'qgalore-window',
] as const;

/** Refuse --resume when the flags describe a different run than the one in --out, naming the first difference. */
function checkResumable(outDir: string, run: RunRecord): void {
  const file = join(outDir, RUN_FILE);
  if (!existsSync(file)) return;
  const before = JSON.parse(readFileSync(file, 'utf8')) as RunRecord;
  for (const flag of RESUME_FLAGS) {
    const [was, now] = [before.flags?.[flag], run.flags[flag]];
    if (was !== undefined && was !== now) {
      throw new UsageError(`train: --resume with --${flag} ${now}, but the run in ${outDir} used ${was}`);
    }
  }
  for (const key of new Set([...Object.keys(before.config), ...Object.keys(run.config)])) {
    if (JSON.stringify(before.config[key]) !== JSON.stringify(run.config[key])) {
      throw new UsageError(
        `train: --resume with a different architecture: ${key} is ${JSON.stringify(run.config[key])}, the run in ${outDir} has ${JSON.stringify(before.config[key])}`,
      );
    }
  }
}

const GALORE_FLAGS = ['galore-rank', 'galore-gap', 'galore-scale', 'galore-targets'] as const;
const QGALORE_FLAGS = ['qgalore-rounding', 'qgalore-group-size', 'qgalore-cos-threshold', 'qgalore-window'] as const;

interface OptimizerFlags {
  lr: number;
  weightDecay: number;
  momentum: number;
  seed: number;
  galore: Required<Pick<GaLoreGroupsOptions, 'targets' | 'rank' | 'updateProjGap' | 'scale'>>;
  qgalore: Required<Pick<QGaLoreOptions, 'stochasticRounding' | 'groupSize' | 'lazy'>>;
}

/**
 * The --optimizer over the model's trainable parameters (no decay on norms, biases and embeddings). qgalore first
 * turns the target Linears into QuantLinears (int8 codes), in place.
 */
function makeOptimizer(
  kind: string,
  model: DecoderForCausalLM,
  flags: OptimizerFlags,
): AdamW | SGD | GaLoreAdamW | QGaLoreAdamW {
  const { lr, weightDecay } = flags;
  const betas: [number, number] = [0.9, 0.95];
  if (kind === 'sgd') return new SGD(decayGroups(model, { weightDecay }), { lr, momentum: flags.momentum });
  if (kind === 'adamw') return new AdamW(decayGroups(model, { weightDecay }), { lr, betas });
  try {
    if (kind === 'galore') return new GaLoreAdamW(galoreGroups(model, { ...flags.galore, weightDecay }), { lr, betas });
    const { groupSize, ...qgalore } = flags.qgalore;
    const groups = qgaloreGroups(model, { ...flags.galore, groupSize, weightDecay });
    return new QGaLoreAdamW(groups, { lr, betas, ...qgalore, seed: flags.seed });
  } catch (err) {
    if (err instanceof OptimizerError) throw new UsageError(`train: --galore-targets: ${err.message}`);
    throw err;
  }
}

const SAVE_DTYPES: Record<string, 'f32' | 'bf16' | 'f16'> = { float32: 'f32', bfloat16: 'bf16', float16: 'f16' };

/**
 * `lithe train`: train a causal LM from a preset (with overrides) or continue from a checkpoint,
 * on a corpus split or a .txt/.jsonl file. Output in DIR: metrics.jsonl, checkpoint/ (resumable
 * with --resume) and model/ (the final HF checkpoint). Ctrl-C writes a checkpoint and stops cleanly.
 */
export async function trainCommand(argv: string[]): Promise<number> {
  const values = parseCommand(trainSpec, argv);
  const { out, seqlen, steps } = values;
  const modelDir = values.model === undefined ? undefined : resolveModel(values.model, values.revision);
  if (modelDir) {
    const clash = ARCHITECTURE_FLAGS.find((flag) => values.given.has(flag));
    if (clash) throw new UsageError(`train: --${clash} shapes a new model; it cannot be combined with --model`);
  }
  const tokenizerPath = values.tokenizer ?? modelDir;
  if (!tokenizerPath) throw new UsageError('train: --tokenizer DIR|FILE is required when not continuing from --model');
  if (steps < 2 && values.given.has('warmup') && values.warmup !== 0) {
    throw new UsageError('train: --warmup needs at least 2 --steps');
  }
  // 5% of the steps, at least one when there is room for it (a one-step run has none).
  const warmup = values.warmup ?? (steps > 1 ? Math.max(1, Math.round(steps / 20)) : 0);
  if (warmup >= steps) throw new UsageError(`train: --warmup ${warmup} must be smaller than --steps ${steps}`);

  const tokenizer = loadTokenizer(tokenizerPath);
  let config: DecoderConfig;
  if (modelDir) {
    config = readCheckedConfig(modelDir);
  } else {
    const p = PRESETS[(values.preset ?? 'tiny') as keyof typeof PRESETS];
    const heads = values.heads ?? p.heads;
    const hidden = values.hidden ?? p.hidden;
    if (hidden % heads !== 0) throw new UsageError(`train: --hidden ${hidden} must be a multiple of --heads ${heads}`);
    config = parseDecoderConfig({
      architectures: ['LlamaForCausalLM'],
      vocab_size: values.vocab ?? tokenizer.vocabSize,
      hidden_size: hidden,
      intermediate_size: values.intermediate ?? p.intermediate,
      num_hidden_layers: values.layers ?? p.layers,
      num_attention_heads: heads,
      num_key_value_heads: values['kv-heads'] ?? p.kvHeads,
      head_dim: hidden / heads,
      max_position_embeddings: Math.max(1024, seqlen),
      rms_norm_eps: 1e-5,
      rope_parameters: { rope_type: 'default', rope_theta: 10000 },
      tie_word_embeddings: p.tieEmbeddings,
      bos_token_id: tokenizer.bosTokenId,
      eos_token_id: tokenizer.eosTokenId,
      dtype: 'float32',
    });
  }
  if (modelDir) checkTokenizerFits(tokenizer, config, modelDir);
  else if (config.vocabSize < tokenizer.vocabSize) {
    throw new UsageError(
      `train: --vocab ${config.vocabSize} is smaller than the tokenizer's ${tokenizer.vocabSize} tokens`,
    );
  }
  warnPastContext(config, '--seqlen', seqlen);
  ensureFits(
    parameterBytes(config) + trainStepBytes(config, values.batch, seqlen),
    `train: one step at --batch ${values.batch} × --seqlen ${seqlen}`,
  );
  const lrc = values.trainable === 'lrc';
  if (lrc && !modelDir) throw new UsageError('train: --trainable lrc needs --model DIR (a lithe lowrank checkpoint)');
  // WeLore's recipe for the Low-rank Components, where the flags leave it open.
  const hyper = {
    lr: lrc && !values.given.has('lr') ? LRC_RECIPE.lr : values.lr,
    'weight-decay': lrc && !values.given.has('weight-decay') ? LRC_RECIPE.weightDecay : values['weight-decay'],
  };
  const saveDtype = values['save-dtype'] ?? (modelDir ? (SAVE_DTYPES[config.dtype] ?? 'f32') : 'f32');
  const run: RunRecord = {
    format: 'lithe-train-run',
    config: toHfConfig(config),
    // The effective lr and weight decay replace the flags' values in place (same keys, same order).
    flags: { ...Object.fromEntries(RESUME_FLAGS.map((flag) => [flag, values[flag]])), ...hyper },
  };
  if (values.resume) checkResumable(out, run);
  const galoreFlag = GALORE_FLAGS.find((flag) => values.given.has(flag));
  if (galoreFlag && values.optimizer !== 'galore' && values.optimizer !== 'qgalore') {
    throw new UsageError(`train: --${galoreFlag} needs --optimizer galore or qgalore`);
  }
  const qgaloreFlag = QGALORE_FLAGS.find((flag) => values.given.has(flag));
  if (qgaloreFlag && values.optimizer !== 'qgalore') {
    throw new UsageError(`train: --${qgaloreFlag} needs --optimizer qgalore`);
  }
  if (values['qgalore-window'] === 0 && values.given.has('qgalore-cos-threshold')) {
    throw new UsageError('train: --qgalore-cos-threshold has no effect with --qgalore-window 0 (no lazy subspace)');
  }

  if (!values.resume && !values.overwrite && holdsTrainingRun(out)) {
    throw new UsageError(
      `train: ${out} already holds a training run; pass --resume to continue it or --overwrite to start over`,
    );
  }
  const corpus = loadTextSource(values.data);
  const valCorpus = values.val === undefined ? null : loadTextSource(values.val);
  // Checked and locked before the data is tokenised, so that a bad --out costs nothing.
  const outDir = openOutputDir(out, {
    inputs: [modelDir, tokenizerPath].filter((p): p is string => p !== undefined),
    overwrite: values.overwrite || values.resume,
    what: '--out',
    kind: 'train-run',
  });
  let failed = true;
  try {
    // Whatever this run will replace must be lithe's own, found out before any work.
    for (const name of [RUN_FILE, 'model', ...(values.resume ? [] : [METRICS_FILE, CHECKPOINT_DIR])])
      outDir.claim(name);
    const onProgress = stderrProgress();
    const encode = (documents: readonly string[]) =>
      encodeDocumentsCached(tokenizer, documents, { cacheDir: values['no-cache'] ? null : undefined, onProgress }).ids;
    const valIds = valCorpus ? encode(valCorpus.documents) : null;
    const batcher = new TokenBatcher(encode(corpus.documents), { batchSize: values.batch, seqlen, seed: values.seed });
    const model = modelDir
      ? await loadDecoder(modelDir, { onProgress })
      : new DecoderForCausalLM(config, { seed: values.seed });
    const counts = restrictTraining(model, values.trainable as TrainableSet);
    if (lrc)
      process.stderr.write(`lithe: training ${counts.trained} parameters (the LRC factors); ${counts.frozen} frozen\n`);
    const weightDecay = hyper['weight-decay'];
    const optimizer = makeOptimizer(values.optimizer, model, {
      lr: hyper.lr,
      weightDecay,
      momentum: values.momentum,
      seed: values.seed,
      qgalore: {
        stochasticRounding: values['qgalore-rounding'] === 'stochastic',
        groupSize: values['qgalore-group-size'],
        lazy:
          values['qgalore-window'] === 0
            ? null
            : { cosThreshold: values['qgalore-cos-threshold'], window: values['qgalore-window'] },
      },
      galore: {
        targets: values['galore-targets'],
        rank: values['galore-rank'],
        updateProjGap: values['galore-gap'],
        scale: values['galore-scale'],
      },
    });
    // Written once a checkpoint exists (also when the run then fails), so a failed start leaves nothing behind.
    const recordRun = () => {
      if (holdsTrainingRun(out)) outDir.writeFile(RUN_FILE, `${JSON.stringify(run, null, 2)}\n`);
    };
    const result = await withSignals((signal) => {
      const start = performance.now();
      return train(model, batcher, {
        loss: causalLmLoss,
        tokens: causalLmTokens,
        optimizer,
        schedule: cosineSchedule({ warmupSteps: warmup, totalSteps: steps, minLrRatio: values['min-lr-ratio'] }),
        steps,
        gradAccumulation: values['grad-accum'],
        clipNorm: values.clip === 0 ? undefined : values.clip,
        logEvery: values['log-every'],
        evalEvery: valIds ? values['eval-every'] : undefined,
        evaluate: valIds ? () => perplexity(model, valIds, { seqlen, maxWindows: values['eval-windows'] }) : undefined,
        checkpointEvery: values['checkpoint-every'],
        outDir,
        overwrite: values.overwrite,
        saveDtype,
        resume: values.resume,
        signal,
        onLog: (r) => {
          const eta = ((performance.now() - start) / 1000 / Math.max(1, r.step)) * (steps - r.step);
          const val = r.valPerplexity === undefined ? '' : `  val ppl ${r.valPerplexity.toFixed(2)}`;
          process.stderr.write(
            `step ${r.step}/${steps}  loss ${r.loss.toFixed(4)}  lr ${r.lr.toExponential(2)}  ${(r.tokensPerSecond as number).toFixed(0)} tok/s  ETA ${eta.toFixed(0)}s${val}\n`,
          );
        },
      }).finally(recordRun);
    });
    await outDir.writeDir('model', (tmp) =>
      saveDecoder(model, tmp, {
        dtype: saveDtype,
        extraFiles: (modelOut) => {
          tokenizer.save(modelOut.path);
          for (const file of ['tokenizer.json', 'tokenizer_config.json']) modelOut.record(file);
        },
      }),
    );
    outDir.commit();
    failed = false;
    // Q-GaLore's lazy subspace decides how many SVDs it takes: report them.
    const svds = optimizer instanceof QGaLoreAdamW ? { svds: optimizer.svdCount } : {};
    process.stdout.write(`${JSON.stringify({ ...result, ...svds, model: join(out, 'model') })}\n`);
    return result.stopped === 'aborted' ? 130 : 0;
  } finally {
    outDir.close({ failed });
  }
}

/**
 * Run fn with an AbortSignal that Ctrl-C or SIGTERM fires: the loop then finishes its step and writes a checkpoint.
 * A second signal quits at once, without one.
 */
async function withSignals<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSignal = () => {
    if (controller.signal.aborted) {
      process.stderr.write('\nlithe: interrupted again; quitting now without writing a checkpoint\n');
      process.exit(130);
    }
    process.stderr.write(
      '\nlithe: interrupted; finishing this step and writing a checkpoint (again to quit at once)\n',
    );
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await fn(controller.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
