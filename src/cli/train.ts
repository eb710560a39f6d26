import { join } from 'node:path';
import { loadTextSource } from '../data/text-source.js';
import { noGrad } from '../engine/autograd.js';
import { UsageError } from '../engine/errors.js';
import { perplexity } from '../eval/perplexity.js';
import { loadDecoder, saveDecoder } from '../io/checkpoint.js';
import { encodeDocuments, loadTokenizer } from '../io/tokenizer.js';
import { parseDecoderConfig } from '../models/llama/config.js';
import { DecoderForCausalLM } from '../models/llama/model.js';
import { TokenBatcher } from '../train/batches.js';
import { train } from '../train/loop.js';
import { AdamW } from '../train/optim/adamw.js';
import { decayGroups } from '../train/optim/optimizer.js';
import { SGD } from '../train/optim/sgd.js';
import { cosineSchedule } from '../train/schedule.js';
import { numberFlag, parseFlags, positiveIntFlag } from './args.js';

/**
 * LLaMA-style presets. `tiny` (2.4M parameters with a 4,096-token vocabulary, tied embeddings) is the
 * embedded model's shape and trains in about 20 minutes on two cores; `small` is llama-ref's shape.
 */
export const PRESETS = {
  tiny: { layers: 4, hidden: 192, heads: 4, kvHeads: 2, intermediate: 512, tieEmbeddings: true },
  small: { layers: 8, hidden: 384, heads: 6, kvHeads: 2, intermediate: 1024, tieEmbeddings: false },
} as const;

const HELP_LINE =
  'lithe train --out DIR --tokenizer DIR|FILE [--preset tiny|small | --model DIR] [--data sotu:train] [--val sotu:val] [--steps N] ...';

/**
 * `lithe train`: train a causal LM from a preset (with overrides) or continue from a checkpoint,
 * on a corpus split or a .txt/.jsonl file. Output in DIR: metrics.jsonl, checkpoint/ (resumable
 * with --resume) and model/ (the final HF checkpoint). Ctrl-C writes a checkpoint and stops cleanly.
 */
export async function trainCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags('train', argv, {
    out: { type: 'string' },
    preset: { type: 'string' },
    model: { type: 'string' },
    tokenizer: { type: 'string' },
    data: { type: 'string' },
    val: { type: 'string' },
    layers: { type: 'string' },
    hidden: { type: 'string' },
    heads: { type: 'string' },
    'kv-heads': { type: 'string' },
    intermediate: { type: 'string' },
    vocab: { type: 'string' },
    seqlen: { type: 'string' },
    batch: { type: 'string' },
    'grad-accum': { type: 'string' },
    steps: { type: 'string' },
    lr: { type: 'string' },
    'min-lr-ratio': { type: 'string' },
    warmup: { type: 'string' },
    'weight-decay': { type: 'string' },
    clip: { type: 'string' },
    optimizer: { type: 'string' },
    momentum: { type: 'string' },
    seed: { type: 'string' },
    'log-every': { type: 'string' },
    'eval-every': { type: 'string' },
    'eval-windows': { type: 'string' },
    'checkpoint-every': { type: 'string' },
    'save-dtype': { type: 'string' },
    resume: { type: 'boolean' },
  });
  if (!values.out) throw new UsageError(`train: --out DIR is required (${HELP_LINE})`);
  const tokenizerPath = values.tokenizer ?? values.model;
  if (!tokenizerPath) throw new UsageError('train: --tokenizer DIR|FILE is required when not continuing from --model');
  const saveDtype = values['save-dtype'] ?? 'f32';
  if (saveDtype !== 'f32' && saveDtype !== 'bf16')
    throw new UsageError(`--save-dtype must be f32 or bf16, got '${saveDtype}'`);
  const optimizerName = values.optimizer ?? 'adamw';
  if (optimizerName !== 'adamw' && optimizerName !== 'sgd')
    throw new UsageError(`--optimizer must be adamw or sgd, got '${optimizerName}'`);
  const seed = numberFlag('seed', values.seed, 0);
  const seqlen = positiveIntFlag('seqlen', values.seqlen, 256);
  const steps = positiveIntFlag('steps', values.steps, 200);

  const tokenizer = loadTokenizer(tokenizerPath);
  let model: DecoderForCausalLM;
  if (values.model) {
    if (values.preset) throw new UsageError('train: give --preset or --model, not both');
    model = await loadDecoder(values.model);
  } else {
    const presetName = values.preset ?? 'tiny';
    if (!(presetName in PRESETS)) throw new UsageError(`--preset must be tiny or small, got '${presetName}'`);
    const p = PRESETS[presetName as keyof typeof PRESETS];
    const heads = positiveIntFlag('heads', values.heads, p.heads);
    const hidden = positiveIntFlag('hidden', values.hidden, p.hidden);
    const config = parseDecoderConfig({
      architectures: ['LlamaForCausalLM'],
      vocab_size: positiveIntFlag('vocab', values.vocab, tokenizer.vocabSize),
      hidden_size: hidden,
      intermediate_size: positiveIntFlag('intermediate', values.intermediate, p.intermediate),
      num_hidden_layers: positiveIntFlag('layers', values.layers, p.layers),
      num_attention_heads: heads,
      num_key_value_heads: positiveIntFlag('kv-heads', values['kv-heads'], p.kvHeads),
      head_dim: hidden / heads,
      max_position_embeddings: Math.max(1024, seqlen),
      rms_norm_eps: 1e-5,
      rope_parameters: { rope_type: 'default', rope_theta: 10000 },
      tie_word_embeddings: p.tieEmbeddings,
      bos_token_id: tokenizer.bosTokenId,
      eos_token_id: tokenizer.eosTokenId,
      dtype: 'float32',
    });
    if (config.vocabSize < tokenizer.vocabSize) {
      throw new UsageError(`--vocab ${config.vocabSize} is smaller than the tokenizer's ${tokenizer.vocabSize}`);
    }
    model = new DecoderForCausalLM(config, { seed });
  }

  const ids = encodeDocuments(tokenizer, loadTextSource(values.data ?? 'sotu:train').documents);
  const batcher = new TokenBatcher(ids, { batchSize: positiveIntFlag('batch', values.batch, 16), seqlen, seed });
  const valIds = values.val ? encodeDocuments(tokenizer, loadTextSource(values.val).documents) : null;
  const evalWindows = positiveIntFlag('eval-windows', values['eval-windows'], 16);
  const lr = numberFlag('lr', values.lr, 1e-3);
  const weightDecay = numberFlag('weight-decay', values['weight-decay'], 0.1);
  const optimizer =
    optimizerName === 'adamw'
      ? new AdamW(decayGroups(model, { weightDecay }), { lr, betas: [0.9, 0.95] })
      : new SGD(decayGroups(model, { weightDecay }), { lr, momentum: numberFlag('momentum', values.momentum, 0.9) });
  const warmup = Math.min(steps - 1, positiveIntFlag('warmup', values.warmup, Math.max(1, Math.round(steps / 20))));
  const controller = new AbortController();
  const onSigint = () => {
    process.stderr.write(
      '\nlithe: interrupted; finishing this step and writing a checkpoint (Ctrl-C again to quit now)\n',
    );
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  const start = performance.now();
  try {
    const result = await train(model, batcher, {
      optimizer,
      schedule: cosineSchedule({
        warmupSteps: warmup,
        totalSteps: steps,
        minLrRatio: numberFlag('min-lr-ratio', values['min-lr-ratio'], 0.1),
      }),
      steps,
      gradAccumulation: positiveIntFlag('grad-accum', values['grad-accum'], 1),
      clipNorm: values.clip === undefined ? 1 : numberFlag('clip', values.clip, 1),
      logEvery: positiveIntFlag('log-every', values['log-every'], 10),
      evalEvery: valIds ? positiveIntFlag('eval-every', values['eval-every'], 100) : undefined,
      evaluate: valIds ? () => noGrad(() => perplexity(model, valIds, { seqlen, maxWindows: evalWindows })) : undefined,
      checkpointEvery: positiveIntFlag('checkpoint-every', values['checkpoint-every'], 100),
      outDir: values.out,
      saveDtype,
      resume: values.resume === true,
      signal: controller.signal,
      onLog: (r) => {
        const eta = ((performance.now() - start) / 1000 / Math.max(1, r.step)) * (steps - r.step);
        const val = r.valPerplexity === undefined ? '' : `  val ppl ${r.valPerplexity.toFixed(2)}`;
        process.stderr.write(
          `step ${r.step}/${steps}  loss ${r.loss.toFixed(4)}  lr ${r.lr.toExponential(2)}  ${r.tokensPerSecond.toFixed(0)} tok/s  ETA ${eta.toFixed(0)}s${val}\n`,
        );
      },
    });
    const finalDir = join(values.out, 'model');
    await saveDecoder(model, finalDir, {
      dtype: saveDtype,
      extraFiles: (out) => tokenizer.save(out.path),
    });
    process.stdout.write(`${JSON.stringify({ ...result, model: finalDir })}\n`);
    return result.stopped === 'aborted' ? 130 : 0;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
