import assert from 'node:assert/strict';
import { totalmem } from 'node:os';
import { describe, it } from 'node:test';
import { EnvError, LitheError } from '../../src/engine/errors.js';
import { ensureFits, formatBytes, MemoryError, memoryLimitFromEnv } from '../../src/engine/memory.js';
import { parseDecoderConfig } from '../../src/models/llama/config.js';
import { calibrationBytes, forwardBytes, parameterBytes, trainStepBytes } from '../../src/models/llama/memory.js';
import { DecoderForCausalLM } from '../../src/models/llama/model.js';

const GB = 1024 ** 3;

/** llama-ref's shapes: 8 layers, hidden 384, 6 query and 2 key/value heads, MLP 1024, vocabulary 8192. */
const llamaRef = parseDecoderConfig({
  architectures: ['LlamaForCausalLM'],
  vocab_size: 8192,
  hidden_size: 384,
  intermediate_size: 1024,
  num_hidden_layers: 8,
  num_attention_heads: 6,
  num_key_value_heads: 2,
  max_position_embeddings: 256,
});

/** Runs fn with LITHE_MEMORY_LIMIT set (or deleted for undefined), restoring it after. */
function withLimit<T>(value: string | undefined, fn: () => T): T {
  const saved = process.env.LITHE_MEMORY_LIMIT;
  if (value === undefined) delete process.env.LITHE_MEMORY_LIMIT;
  else process.env.LITHE_MEMORY_LIMIT = value;
  try {
    return fn();
  } finally {
    if (saved === undefined) delete process.env.LITHE_MEMORY_LIMIT;
    else process.env.LITHE_MEMORY_LIMIT = saved;
  }
}

describe('memory estimates', () => {
  it('parameterBytes is 4 bytes per parameter the decoder creates (untied, with biases, and tied)', () => {
    for (const extra of [{ attention_bias: true, mlp_bias: true }, { tie_word_embeddings: true }]) {
      const config = parseDecoderConfig({
        architectures: ['LlamaForCausalLM'],
        vocab_size: 50,
        hidden_size: 16,
        intermediate_size: 24,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        ...extra,
      });
      const model = new DecoderForCausalLM(config, { init: false });
      const count = model.parameters().reduce((n, p) => n + p.size, 0);
      assert.equal(parameterBytes(config), 4 * count);
    }
  });

  it('grow linearly in the batch and in the sequence length (fused attention holds no [T, T] scores)', () => {
    for (const estimate of [forwardBytes, trainStepBytes]) {
      const base = estimate(llamaRef, 1, 256) - estimate(llamaRef, 0, 256);
      assert.ok(base > 0);
      assert.equal(estimate(llamaRef, 8, 256) - estimate(llamaRef, 0, 256), 8 * base);
      const [a, b, c] = [128, 256, 2048].map((t) => estimate(llamaRef, 2, t) - estimate(llamaRef, 0, t));
      assert.equal(b, 2 * a);
      assert.equal(c, 16 * a);
    }
    // Per token and layer, attention holds q, k, v (Q + 2K = 384 + 256) and one log-sum-exp per head (6).
    const attention = (t: number) => forwardBytes(llamaRef, 1, t);
    const perToken = (attention(2) - attention(1)) / 4;
    assert.equal(perToken, 6 * 384 + 4 * 384 + 3 * 128 + 4 * 1024 + 384 + 256 + 6 + 2 * 384 + 2 * 8192);
    assert.ok(trainStepBytes(llamaRef, 4, 256) > forwardBytes(llamaRef, 4, 256));
    assert.ok(calibrationBytes(llamaRef, 256, 128, 'wanda') > calibrationBytes(llamaRef, 128, 128, 'wanda'));
    const blockIO = (n: number) => n * 128 * 384 * 4 * 2;
    assert.equal(
      calibrationBytes(llamaRef, 256, 128, 'wanda') - calibrationBytes(llamaRef, 128, 128, 'wanda'),
      blockIO(256) - blockIO(128),
    );
    const hessians = calibrationBytes(llamaRef, 128, 128, 'sparsegpt') - calibrationBytes(llamaRef, 128, 128, 'wanda');
    assert.equal(hessians, 12 * (384 ** 2 * 3 + 1024 ** 2 + 1024 ** 2));
    assert.equal(calibrationBytes(llamaRef, 128, 128, 'magnitude'), calibrationBytes(llamaRef, 128, 128, 'wanda'));
  });

  it('llama-ref trains at batch 16 × seqlen 256 within 24 GB, not at batch 100000; eval fits at seqlen 100000, not at 2^20', () => {
    const budget = 24 * GB;
    const train = (batch: number) => parameterBytes(llamaRef) + trainStepBytes(llamaRef, batch, 256);
    assert.doesNotThrow(() => ensureFits(train(16), 'train', { budget }));
    assert.throws(() => ensureFits(train(100000), 'train', { budget }), MemoryError);
    assert.doesNotThrow(() =>
      ensureFits(parameterBytes(llamaRef) + forwardBytes(llamaRef, 1, 100000), 'eval', { budget }),
    );
    assert.throws(
      () => ensureFits(parameterBytes(llamaRef) + forwardBytes(llamaRef, 1, 2 ** 20), 'eval', { budget }),
      MemoryError,
    );
    assert.doesNotThrow(() =>
      ensureFits(parameterBytes(llamaRef) + calibrationBytes(llamaRef, 128, 256, 'sparsegpt'), 'prune', { budget }),
    );
  });
});

describe('ensureFits', () => {
  it('refuses past the budget with one line naming what, the estimate and the budget', () => {
    assert.doesNotThrow(() => ensureFits(100, 'x', { budget: 100 }));
    assert.throws(
      () => ensureFits(1.2 * 1024 ** 4, 'train: one step at --batch 100000 × --seqlen 256', { budget: 24 * GB }),
      (err: unknown) =>
        err instanceof MemoryError &&
        err instanceof LitheError &&
        err.message ===
          'train: one step at --batch 100000 × --seqlen 256 needs about 1.2 TiB, more than the budget of 24.0 GiB' &&
        err.budget === 24 * GB,
    );
  });

  it('defaults to 90% of the machine, or LITHE_MEMORY_LIMIT in bytes or with a suffix', () => {
    withLimit(undefined, () => {
      assert.doesNotThrow(() => ensureFits(totalmem() * 0.89, 'x'));
      assert.throws(() => ensureFits(totalmem() * 0.91, 'x'), /this machine's .*LITHE_MEMORY_LIMIT/);
    });
    withLimit('8G', () => {
      assert.equal(memoryLimitFromEnv(), 8 * GB);
      assert.doesNotThrow(() => ensureFits(8 * GB, 'x'));
      assert.throws(
        () => ensureFits(8 * GB + 1, 'eval'),
        /^MemoryError: eval needs about 8\.0 GiB, more than LITHE_MEMORY_LIMIT=8G/,
      );
      // An explicit budget wins over the variable.
      assert.doesNotThrow(() => ensureFits(9 * GB, 'x', { budget: 10 * GB }));
    });
    for (const [value, bytes] of [
      ['1000', 1000],
      ['512M', 512 * 1024 ** 2],
      ['1.5GiB', 1.5 * GB],
      ['2tb', 2 * 1024 ** 4],
      ['64k', 65536],
    ] as const) {
      assert.equal(
        withLimit(value, () => memoryLimitFromEnv()),
        bytes,
        value,
      );
    }
  });

  it('refuses a bad LITHE_MEMORY_LIMIT with an EnvError, when it is needed', () => {
    for (const value of ['lots', '0', '-1G', '8X', '1e9', '0.1']) {
      withLimit(value, () => {
        assert.throws(
          () => ensureFits(1, 'x'),
          (err: unknown) =>
            err instanceof EnvError && err.message.startsWith(`LITHE_MEMORY_LIMIT="${value}" is not valid`),
          value,
        );
      });
    }
  });

  it('formats bytes in powers of 1024', () => {
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(24 * GB), '24.0 GiB');
    assert.equal(formatBytes(200 * GB), '200 GiB');
  });
});
