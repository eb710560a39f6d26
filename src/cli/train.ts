import type { Corpus } from '../data/corpora.js';
import { readSftRows } from '../data/preference.js';
import { loadTextSource } from '../data/text-source.js';
import { encodeDocumentsCached } from '../data/token-cache.js';
import { UsageError } from '../engine/errors.js';
import { ensureFits } from '../engine/memory.js';
import { perplexity } from '../eval/perplexity.js';
import { loadDecoder, readCheckedConfig } from '../io/checkpoint.js';
import { checkTokenizerFits, type LitheTokenizer, loadTokenizer } from '../io/tokenizer.js';
import { type DecoderConfig, parseDecoderConfig, toHfConfig } from '../models/llama/config.js';
import { parameterBytes, trainStepBytes } from '../models/llama/memory.js';
import { DecoderForCausalLM } from '../models/llama/model.js';
import { type Batch, TokenBatcher } from '../train/batches.js';
import { causalLmLoss, causalLmTokens } from '../train/causal-lm.js';
import { CompletionBatcher, encodeCompletion } from '../train/completions.js';
import { LRC_RECIPE, restrictTraining, type TrainableSet } from '../train/trainable.js';
import { resolveModel, warnPastContext } from './common.js';
import { type CommandSpec, type FlagValues, parseCommand } from './flags.js';
import {
  checkOptimizationFlags,
  checkRunDir,
  OPTIMIZATION_FLAGS,
  OPTIMIZATION_RESUME_FLAGS,
  type RunRecord,
  runTrainingJob,
  saveDtypeOf,
} from './training-job.js';

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
    task: {
      kind: 'choice',
      choices: ['lm', 'sft'],
      default: 'lm',
      help: 'lm: next-token loss on every token of a text; sft: supervised fine-tuning on {"prompt", "completion"} rows, the loss on completion tokens only',
    },
    data: {
      kind: 'string',
      value: 'SOURCE',
      defaultText: 'sotu:train (--task sft: required)',
      help: 'training text: a corpus, .txt or .jsonl, several joined by commas; --task sft: a .jsonl of {"prompt", "completion"} rows',
    },
    val: { kind: 'string', value: 'SOURCE', help: 'validation text for perplexity during training (e.g. sotu:val)' },
    seqlen: { kind: 'int', default: 256, max: 1 << 16, help: 'tokens per training sequence' },
    'max-length': {
      kind: 'int',
      default: 512,
      min: 2,
      max: 1 << 16,
      help: '--task sft: prompt plus completion tokens kept per row (longer completions are cut)',
    },
    batch: { kind: 'int', default: 16, max: 1 << 16, help: 'sequences (rows) per micro-batch' },
    trainable: {
      kind: 'choice',
      choices: ['all', 'lrc'],
      default: 'all',
      help: "all parameters, or lrc: only the U and V factors of a lithe lowrank checkpoint's factorised Linears (WeLore)",
    },
    ...OPTIMIZATION_FLAGS,
    lr: { ...OPTIMIZATION_FLAGS.lr, help: 'peak learning rate (--trainable lrc: 5e-5 unless given)' },
    'weight-decay': {
      ...OPTIMIZATION_FLAGS['weight-decay'],
      help: 'decoupled weight decay, not on norms (--trainable lrc: 0 unless given)',
    },
    'eval-every': { kind: 'int', default: 100, help: 'validation perplexity every N steps (with --val)' },
    'eval-windows': { kind: 'int', default: 16, help: 'validation windows of --seqlen tokens' },
    'no-cache': { kind: 'boolean', help: 'tokenise the data again instead of reading cached token ids ($LITHE_CACHE)' },
  },
  examples: [
    'lithe train --out runs/tiny --tokenizer models/lithe-tiny --preset tiny --steps 1200 --val sotu:val',
    'lithe train --out runs/tiny --tokenizer models/lithe-tiny --steps 1200 --resume',
    'lithe train --out runs/ft --model models/lithe-tiny --data moby:train --steps 100 --lr 3e-4',
    'lithe train --out runs/lrc --model lowrank --trainable lrc --steps 200',
    'lithe train --out runs/galore --tokenizer models/lithe-tiny --preset small --optimizer galore --galore-rank 128 --lr 1e-2',
    'lithe train --out runs/qgalore --tokenizer models/lithe-tiny --preset small --optimizer qgalore --galore-rank 128 --lr 1e-2',
    'lithe data arithmetic --format sft --n 20000 --out sft.jsonl && lithe train --task sft --model models/lithe-tiny --data sft.jsonl --out runs/sft --lr 1e-3',
  ],
  notes: [
    'Ctrl-C or SIGTERM finishes the current step and writes a checkpoint; a second one quits at once without one.',
  ],
} as const satisfies CommandSpec;

/** The train flags that shape the run beside the optimisation ones, so --resume must repeat them. */
const RESUME_FLAGS = [
  'batch',
  'seqlen',
  'data',
  'trainable',
  'task',
  'max-length',
  ...OPTIMIZATION_RESUME_FLAGS,
] as const;

/** A new model's config from --preset and the architecture flags, sized to the tokenizer. */
function presetConfig(values: FlagValues<typeof trainSpec.flags>, tokenizer: LitheTokenizer): DecoderConfig {
  const p = PRESETS[(values.preset ?? 'tiny') as keyof typeof PRESETS];
  const heads = values.heads ?? p.heads;
  const hidden = values.hidden ?? p.hidden;
  if (hidden % heads !== 0) throw new UsageError(`train: --hidden ${hidden} must be a multiple of --heads ${heads}`);
  const config = parseDecoderConfig({
    architectures: ['LlamaForCausalLM'],
    vocab_size: values.vocab ?? tokenizer.vocabSize,
    hidden_size: hidden,
    intermediate_size: values.intermediate ?? p.intermediate,
    num_hidden_layers: values.layers ?? p.layers,
    num_attention_heads: heads,
    num_key_value_heads: values['kv-heads'] ?? p.kvHeads,
    head_dim: hidden / heads,
    max_position_embeddings: Math.max(1024, values.task === 'sft' ? values['max-length'] : values.seqlen),
    rms_norm_eps: 1e-5,
    rope_parameters: { rope_type: 'default', rope_theta: 10000 },
    tie_word_embeddings: p.tieEmbeddings,
    bos_token_id: tokenizer.bosTokenId,
    eos_token_id: tokenizer.eosTokenId,
    dtype: 'float32',
  });
  if (config.vocabSize < tokenizer.vocabSize) {
    throw new UsageError(
      `train: --vocab ${config.vocabSize} is smaller than the tokenizer's ${tokenizer.vocabSize} tokens`,
    );
  }
  return config;
}

/**
 * `lithe train`: train a causal LM from a preset (with overrides) or continue from a checkpoint, on a corpus split or
 * a .txt/.jsonl file (--task lm), or fine-tune it on prompt/completion rows (--task sft). Output in DIR: metrics.jsonl,
 * checkpoint/ (resumable with --resume) and model/ (the final HF checkpoint). Ctrl-C writes a checkpoint and stops.
 */
export async function trainCommand(argv: string[]): Promise<number> {
  const values = parseCommand(trainSpec, argv);
  const { seqlen } = values;
  const sft = values.task === 'sft';
  const modelDir = values.model === undefined ? undefined : resolveModel(values.model, values.revision);
  if (modelDir) {
    const clash = ARCHITECTURE_FLAGS.find((flag) => values.given.has(flag));
    if (clash) throw new UsageError(`train: --${clash} shapes a new model; it cannot be combined with --model`);
  }
  const tokenizerPath = values.tokenizer ?? modelDir;
  if (!tokenizerPath) throw new UsageError('train: --tokenizer DIR|FILE is required when not continuing from --model');
  if (sft && values.data === undefined) throw new UsageError('train: --task sft needs --data FILE.jsonl');
  if (sft && values.val !== undefined) {
    throw new UsageError('train: --val measures text perplexity (--task lm); score an SFT model with lithe eval');
  }
  const lengthFlag = sft ? 'seqlen' : 'max-length';
  if (values.given.has(lengthFlag)) throw new UsageError(`train: --${lengthFlag} is for --task ${sft ? 'lm' : 'sft'}`);
  const data = values.data ?? 'sotu:train';
  const warmup = checkOptimizationFlags('train', values);

  const tokenizer = loadTokenizer(tokenizerPath);
  const config = modelDir ? readCheckedConfig(modelDir) : presetConfig(values, tokenizer);
  if (modelDir) checkTokenizerFits(tokenizer, config, modelDir);
  const rowLength = sft ? values['max-length'] : seqlen;
  warnPastContext(config, sft ? '--max-length' : '--seqlen', rowLength);
  ensureFits(
    parameterBytes(config) + trainStepBytes(config, values.batch, rowLength),
    `train: one step at --batch ${values.batch} × --${sft ? 'max-length' : 'seqlen'} ${rowLength}`,
  );
  const lrc = values.trainable === 'lrc';
  if (lrc && !modelDir) throw new UsageError('train: --trainable lrc needs --model DIR (a lithe lowrank checkpoint)');
  // WeLore's recipe for the Low-rank Components, where the flags leave it open.
  const hyper = {
    lr: lrc && !values.given.has('lr') ? LRC_RECIPE.lr : values.lr,
    weightDecay: lrc && !values.given.has('weight-decay') ? LRC_RECIPE.weightDecay : values['weight-decay'],
  };
  const run: RunRecord = {
    format: 'lithe-train-run',
    config: toHfConfig(config),
    // The effective lr and weight decay replace the flags' values in place (same keys, same order).
    flags: {
      ...Object.fromEntries(RESUME_FLAGS.map((flag) => [flag, values[flag]])),
      data,
      lr: hyper.lr,
      'weight-decay': hyper.weightDecay,
    },
  };
  checkRunDir('train', values, run);
  // Read (and so checked) before --out is locked, so that a bad --data costs nothing.
  const corpus = sft ? null : loadTextSource(data);
  const sftRows = sft ? readSftRows(data) : null;
  const valCorpus = values.val === undefined ? null : loadTextSource(values.val);
  const inputs = [modelDir, tokenizerPath].filter((p): p is string => p !== undefined);
  return runTrainingJob<Batch>({
    command: 'train',
    values,
    run,
    inputs,
    hyper,
    warmup,
    tokenizer,
    saveDtype: saveDtypeOf(values['save-dtype'], modelDir ? config : null),
    setup: async (onProgress) => {
      const encode = (documents: readonly string[]) =>
        encodeDocumentsCached(tokenizer, documents, { cacheDir: values['no-cache'] ? null : undefined, onProgress })
          .ids;
      const valIds = valCorpus ? encode(valCorpus.documents) : null;
      const batcher = sftRows
        ? new CompletionBatcher(
            sftRows.map((row) => encodeCompletion(tokenizer, row.prompt, row.completion)),
            { batchSize: values.batch, maxLength: values['max-length'], seed: values.seed },
          )
        : new TokenBatcher(encode((corpus as Corpus).documents), {
            batchSize: values.batch,
            seqlen,
            seed: values.seed,
          });
      const model = modelDir
        ? await loadDecoder(modelDir, { onProgress })
        : new DecoderForCausalLM(config, { seed: values.seed });
      const counts = restrictTraining(model, values.trainable as TrainableSet);
      if (lrc) {
        process.stderr.write(
          `lithe: training ${counts.trained} parameters (the LRC factors); ${counts.frozen} frozen\n`,
        );
      }
      return {
        model,
        batcher,
        loss: causalLmLoss,
        tokens: causalLmTokens,
        evalEvery: values['eval-every'],
        evaluate: valIds ? () => perplexity(model, valIds, { seqlen, maxWindows: values['eval-windows'] }) : undefined,
      };
    },
  });
}
