/**
 * Evaluation throughput: tokens/s of `lithe eval` on llama-ref (or a random model of its shape when
 * ../shared is absent) next to transformers on PyTorch CPU (2 threads) over the same windows, in the
 * same run. Both score the first WINDOWS windows of sotu:test (seqlen 256, batch 4) under the same protocol.
 * `npm run bench:eval -- --model DIR` measures DIR instead (e.g. models/lithe-tiny, the shapes users meet first).
 * The last line is `eval ratio vs pytorch: X.XX` (lithe tokens/s over PyTorch's).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatDocuments, loadTextSource } from '../src/data/text-source.js';
import { saveDecoder } from '../src/io/checkpoint.js';
import { parseDecoderConfig } from '../src/models/llama/config.js';
import { DecoderForCausalLM } from '../src/models/llama/model.js';
import { findPython, repoRoot } from './python.js';

const WINDOWS = Number(process.env.WINDOWS ?? 32);
const SEQLEN = 256;
const BATCH = 4;

const LLAMA_REF_SHAPE = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  vocab_size: 8192,
  hidden_size: 384,
  intermediate_size: 1024,
  num_hidden_layers: 8,
  num_attention_heads: 6,
  num_key_value_heads: 2,
  head_dim: 64,
  max_position_embeddings: 1024,
  rms_norm_eps: 1e-5,
  rope_parameters: { rope_theta: 10000, rope_type: 'default' },
  bos_token_id: 0,
  eos_token_id: 0,
  dtype: 'bfloat16',
};

async function modelDir(work: string): Promise<{ dir: string; label: string }> {
  const flag = process.argv.indexOf('--model');
  if (flag >= 0) {
    const dir = process.argv[flag + 1];
    if (!dir || !existsSync(join(dir, 'config.json'))) throw new Error(`--model needs a model directory, got '${dir}'`);
    return { dir, label: dir };
  }
  const shared = join(repoRoot, '..', 'shared', 'models', 'llama-ref');
  if (existsSync(join(shared, 'config.json'))) return { dir: shared, label: 'llama-ref' };
  const dir = join(work, 'random-llama-ref');
  await saveDecoder(new DecoderForCausalLM(parseDecoderConfig(LLAMA_REF_SHAPE), { seed: 0 }), dir);
  copyFileSync(join(repoRoot, 'test', 'golden', 'tokenizer', 'tokenizer.json'), join(dir, 'tokenizer.json'));
  return { dir, label: 'random model of llama-ref shape' };
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'lithe-bench-eval-'));
  try {
    const { dir, label } = await modelDir(work);
    const text = join(work, 'sotu-test.txt');
    writeFileSync(text, formatDocuments(loadTextSource('sotu:test').documents));
    // Both sides score the same first WINDOWS windows of the same text.
    const windowFlags = ['--seqlen', String(SEQLEN), '--batch', String(BATCH), '--max-windows', String(WINDOWS)];
    const lithe = spawnSync(
      process.execPath,
      [join(repoRoot, 'bin', 'lithe.js'), 'eval', '--model', dir, '--data', text, ...windowFlags, '--json'],
      { encoding: 'utf8' },
    );
    if (lithe.status !== 0) throw new Error(`lithe eval failed: ${lithe.stderr}`);
    const l = JSON.parse(lithe.stdout) as { perplexity: number; tokens: number; seconds: number };
    const litheRate = l.tokens / l.seconds;
    console.log(`model: ${label}; ${WINDOWS} windows x ${SEQLEN} tokens, batch ${BATCH}`);
    console.log('engine                 tokens/s   perplexity');
    console.log(`lithe                 ${litheRate.toFixed(0).padStart(9)}   ${l.perplexity.toFixed(3)}`);
    const { python, reason } = findPython(['torch', 'transformers']);
    if (!python) {
      console.log(`pytorch               skipped (${reason})`);
      console.log('eval ratio vs pytorch: n/a');
      return;
    }
    const torch = spawnSync(
      python,
      [join(repoRoot, 'tools', 'hf_perplexity.py'), '--model', dir, '--text', text, ...windowFlags, '--threads', '2'],
      { encoding: 'utf8' },
    );
    if (torch.status !== 0) throw new Error(`pytorch eval failed: ${torch.stderr}`);
    const t = JSON.parse(torch.stdout) as { perplexity: number; tokens_per_second: number };
    console.log(`pytorch (2 threads)   ${t.tokens_per_second.toFixed(0).padStart(9)}   ${t.perplexity.toFixed(3)}`);
    console.log(`eval ratio vs pytorch: ${(litheRate / t.tokens_per_second).toFixed(2)}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
