import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { saveDecoder } from '../../src/io/checkpoint.js';
import { parseDecoderConfig } from '../../src/models/llama/config.js';
import { DecoderForCausalLM } from '../../src/models/llama/model.js';

const tokenizerJson = fileURLToPath(new URL('../../../test/golden/tokenizer/tokenizer.json', import.meta.url));

/** Save a small random LLaMA with the reference tokenizer's vocabulary (8192) into dir, for CLI tests. */
export async function saveRandomModel(
  dir: string,
  options: { layers?: number; hidden?: number; dtype?: 'float32' | 'bfloat16'; seed?: number } = {},
): Promise<void> {
  const config = parseDecoderConfig({
    architectures: ['LlamaForCausalLM'],
    vocab_size: 8192,
    hidden_size: options.hidden ?? 16,
    intermediate_size: 2 * (options.hidden ?? 16),
    num_hidden_layers: options.layers ?? 1,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    max_position_embeddings: 128,
    bos_token_id: 0,
    eos_token_id: 0,
    dtype: options.dtype ?? 'float32',
  });
  await saveDecoder(new DecoderForCausalLM(config, { seed: options.seed ?? 0 }), dir);
  copyFileSync(tokenizerJson, join(dir, 'tokenizer.json'));
}
