import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { randn } from '../../src/engine/create.js';
import { Rng } from '../../src/engine/rng.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { perplexity } from '../../src/eval/perplexity.js';
import { loadDecoder } from '../../src/io/checkpoint.js';
import { openSafetensors } from '../../src/io/safetensors.js';
import { parseDecoderConfig } from '../../src/models/llama/config.js';
import { DecoderForCausalLM } from '../../src/models/llama/model.js';
import { Linear } from '../../src/nn/linear.js';
import { mul, sub } from '../../src/ops/elementwise.js';
import { mean } from '../../src/ops/reduce.js';
import type { Batcher } from '../../src/train/batches.js';
import { type Batch, TokenBatcher } from '../../src/train/batches.js';
import { causalLmLoss, causalLmTokens } from '../../src/train/causal-lm.js';
import { TrainError, type TrainOptions, type TrainRecord, train } from '../../src/train/loop.js';
import { AdamW } from '../../src/train/optim/adamw.js';
import { decayGroups } from '../../src/train/optim/optimizer.js';
import { SGD } from '../../src/train/optim/sgd.js';
import { cosineSchedule } from '../../src/train/schedule.js';

const config = parseDecoderConfig({
  architectures: ['LlamaForCausalLM'],
  vocab_size: 64,
  hidden_size: 16,
  intermediate_size: 32,
  num_hidden_layers: 1,
  num_attention_heads: 2,
  max_position_embeddings: 64,
  dtype: 'float32',
});
const SEQLEN = 16;
/** A pseudo-random stream over the whole vocabulary. */
const stream = Int32Array.from({ length: 600 }, (_, i) => (i * 37 + ((i * i) >> 3)) % 64);

/** Causal-LM training: next-token loss, tokens counted. */
const lm = { loss: causalLmLoss, tokens: causalLmTokens };

const work = mkdtempSync(join(tmpdir(), 'lithe-train-'));
after(() => rmSync(work, { recursive: true, force: true }));
let runs = 0;
const freshDir = () => join(work, `run-${runs++}`);

/** A tiny random LLaMA, an AdamW over it, and a batcher of 2 × 16 tokens. */
function setUp(modelSeed = 1, batchSize = 2) {
  const model = new DecoderForCausalLM(config, { seed: modelSeed });
  const optimizer = new AdamW(decayGroups(model), { lr: 1e-2 });
  const batcher = new TokenBatcher(stream, { batchSize, seqlen: SEQLEN, seed: 9 });
  return { model, optimizer, batcher };
}

function weights(model: DecoderForCausalLM): Map<string, Float32Array> {
  return new Map([...model.namedParameters()].map(([n, t]) => [n, Float32Array.from(t.floatData())]));
}

function readMetrics(dir: string): TrainRecord[] {
  return readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as TrainRecord);
}

function trainerState(dir: string): { step: number } {
  return JSON.parse(readFileSync(join(dir, 'checkpoint', 'trainer-state.json'), 'utf8'));
}

describe('train', () => {
  it('loss falls over 50 steps on a repeated short sequence; records carry the logged fields', async () => {
    const { model, optimizer } = setUp();
    const repeated = Int32Array.from({ length: 400 }, (_, i) => [5, 17, 3, 42, 8, 29, 11][i % 7]);
    const batcher = new TokenBatcher(repeated, { batchSize: 2, seqlen: SEQLEN, seed: 0 });
    const records: TrainRecord[] = [];
    const progress: number[] = [];
    const result = await train(model, batcher, {
      ...lm,
      optimizer,
      steps: 50,
      logEvery: 5,
      clipNorm: 1,
      onLog: (r) => records.push(r),
      onProgress: (p) => {
        assert.equal(p.phase, 'train');
        assert.equal(p.total, 50);
        progress.push(p.done);
      },
    });
    assert.equal(result.stopped, 'completed');
    assert.equal(result.step, 50);
    assert.deepEqual(
      records.map((r) => r.step),
      [5, 10, 15, 20, 25, 30, 35, 40, 45, 50],
    );
    assert.deepEqual(
      progress,
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    const first = records[0];
    const last = records[records.length - 1];
    assert.ok(last.loss < 0.25 * first.loss, `loss ${first.loss} → ${last.loss}`);
    assert.equal(result.loss, last.loss);
    for (const r of records) {
      assert.ok((r.tokensPerSecond ?? 0) > 0 && r.elapsedSeconds > 0 && r.lr === 1e-2);
      assert.ok(Number.isFinite(r.gradNorm));
    }
  });

  it('gradient accumulation of 2 × batch B equals steps of batch 2B', async () => {
    const run = async (batchSize: number, gradAccumulation: number) => {
      const { model, batcher } = setUp(1, batchSize);
      const optimizer = new SGD(model.parameters(), { lr: 0.5, momentum: 0.9 });
      const records: TrainRecord[] = [];
      await train(model, batcher, {
        ...lm,
        optimizer,
        steps: 3,
        gradAccumulation,
        logEvery: 1,
        onLog: (r) => records.push(r),
      });
      return { weights: weights(model), losses: records.map((r) => r.loss) };
    };
    const accumulated = await run(2, 2);
    const whole = await run(4, 1);
    for (const [name, w] of whole.weights) {
      const a = accumulated.weights.get(name) as Float32Array;
      const diff = w.reduce((m, v, i) => Math.max(m, Math.abs(v - a[i])), 0);
      assert.ok(diff < 1e-6, `${name}: max diff ${diff}`);
    }
    accumulated.losses.forEach((l, i) => {
      assert.ok(Math.abs(l - whole.losses[i]) < 1e-5);
    });
  });

  for (const saveDtype of ['f32', 'bf16'] as const) {
    it(`${saveDtype} checkpoints: 4 steps + resume for 4 equals 8 straight steps, bit for bit`, async () => {
      const options = (outDir: string, steps: number): Omit<TrainOptions<DecoderForCausalLM>, 'optimizer'> => ({
        ...lm,
        schedule: cosineSchedule({ warmupSteps: 2, totalSteps: 8 }),
        steps,
        gradAccumulation: 2,
        clipNorm: 0.5,
        logEvery: 1,
        checkpointEvery: 3,
        outDir,
        saveDtype,
      });
      const straightDir = freshDir();
      const straight = setUp();
      await train(straight.model, straight.batcher, {
        ...lm,
        ...options(straightDir, 8),
        optimizer: straight.optimizer,
      });

      const splitDir = freshDir();
      const firstHalf = setUp();
      await train(firstHalf.model, firstHalf.batcher, {
        ...lm,
        ...options(splitDir, 4),
        optimizer: firstHalf.optimizer,
      });
      assert.equal(trainerState(splitDir).step, 4);
      // A differently initialised model and a fresh batcher: everything must come from the checkpoint.
      const secondHalf = setUp(2);
      const result = await train(secondHalf.model, secondHalf.batcher, {
        ...lm,
        ...options(splitDir, 8),
        optimizer: secondHalf.optimizer,
        resume: true,
      });
      assert.equal(result.step, 8);
      assert.deepEqual(weights(secondHalf.model), weights(straight.model));
      const strip = (r: TrainRecord) => [r.step, r.loss, r.lr, r.gradNorm];
      assert.deepEqual(readMetrics(splitDir).map(strip), readMetrics(straightDir).map(strip));
      assert.deepEqual(
        readMetrics(splitDir).map((r) => r.step),
        [1, 2, 3, 4, 5, 6, 7, 8],
      );
      const stored = openSafetensors(join(splitDir, 'checkpoint', 'model.safetensors'));
      assert.equal(stored.info('model.norm.weight').dtype, saveDtype === 'f32' ? 'F32' : 'BF16');
      stored.close();
    });
  }

  /** causalLmLoss, times NaN at the `bad`-th call. */
  const nanAtCall = (bad: number) => {
    let calls = 0;
    return (m: DecoderForCausalLM, batch: Batch) => {
      calls += 1;
      const loss = causalLmLoss(m, batch);
      return calls === bad ? mul(loss, Number.NaN) : loss;
    };
  };

  it('a NaN loss at step 3, read before the step-4 checkpoint, throws a TrainError naming step 3; the step-2 checkpoint stays', async () => {
    const { model, optimizer, batcher } = setUp();
    const outDir = freshDir();
    const after: Map<string, Float32Array>[] = [];
    const run = train(model, batcher, {
      ...lm,
      loss: nanAtCall(3),
      optimizer,
      steps: 6,
      checkpointEvery: 2,
      outDir,
      onProgress: () => after.push(weights(model)),
    });
    await assert.rejects(run, (err: Error) => {
      assert.ok(err instanceof TrainError);
      assert.equal(err.step, 3);
      assert.equal(err.message, 'step 3: the loss is NaN; no checkpoint was written past step 2');
      return true;
    });
    // Steps 3 and 4 ran (the loss is read only at the checkpoint), but no checkpoint holds their weights.
    assert.equal(after.length, 4);
    assert.equal(trainerState(outDir).step, 2);
    assert.deepEqual(weights(await loadDecoder(join(outDir, 'checkpoint'))), after[1]);
  });

  it('with clipping, a NaN loss throws at its own step before the weights change (the gradient norm is read)', async () => {
    const { model, optimizer, batcher } = setUp();
    const after: Map<string, Float32Array>[] = [];
    const run = train(model, batcher, {
      ...lm,
      loss: nanAtCall(3),
      optimizer,
      steps: 6,
      clipNorm: 1,
      onProgress: () => after.push(weights(model)),
    });
    await assert.rejects(run, (err: Error) => err instanceof TrainError && err.step === 3);
    assert.equal(after.length, 2);
    assert.deepEqual(weights(model), after[1]);
  });

  it('resuming after a crash drops metrics logged past the checkpoint and a line cut short', async () => {
    const outDir = freshDir();
    const crashing = setUp();
    const crash = train(crashing.model, crashing.batcher, {
      ...lm,
      optimizer: crashing.optimizer,
      steps: 6,
      logEvery: 1,
      checkpointEvery: 2,
      outDir,
      loss: nanAtCall(4),
    });
    await assert.rejects(crash, TrainError);
    appendFileSync(join(outDir, 'metrics.jsonl'), '{"step": 4, "lo');
    const resumed = setUp();
    await train(resumed.model, resumed.batcher, {
      ...lm,
      optimizer: resumed.optimizer,
      steps: 4,
      logEvery: 1,
      outDir,
      resume: true,
    });
    assert.deepEqual(
      readMetrics(outDir).map((r) => r.step),
      [1, 2, 3, 4],
    );
  });

  it('abort finishes the step, writes a checkpoint and returns stopped: aborted; metrics lines parse', async () => {
    const { model, optimizer, batcher } = setUp();
    const outDir = freshDir();
    const controller = new AbortController();
    const result = await train(model, batcher, {
      ...lm,
      optimizer,
      steps: 20,
      logEvery: 2,
      outDir,
      signal: controller.signal,
      onProgress: ({ done }) => done === 3 && controller.abort(),
    });
    assert.deepEqual([result.stopped, result.step], ['aborted', 3]);
    assert.equal(trainerState(outDir).step, 3);
    assert.ok(existsSync(join(outDir, 'checkpoint', 'optimizer.safetensors')));
    assert.deepEqual(weights(await loadDecoder(join(outDir, 'checkpoint'))), weights(model));
    const records = readMetrics(outDir);
    assert.deepEqual(
      records.map((r) => r.step),
      [2, 3],
    );
    for (const r of records)
      assert.deepEqual(Object.keys(r).sort(), ['elapsedSeconds', 'loss', 'lr', 'step', 'tokensPerSecond']);
  });

  it('evaluates every evalEvery steps and at the end', async () => {
    const { model, optimizer, batcher } = setUp();
    const records: TrainRecord[] = [];
    let evaluations = 0;
    await train(model, batcher, {
      ...lm,
      optimizer,
      steps: 5,
      logEvery: 10,
      evalEvery: 2,
      evaluate: () => ({ perplexity: 100 + evaluations++ }),
      onLog: (r) => records.push(r),
    });
    assert.deepEqual(
      records.map((r) => [r.step, r.valPerplexity]),
      [
        [2, 100],
        [4, 101],
        [5, 102],
      ],
    );
  });

  it('refuses to start over an existing run without resume or overwrite; overwrite starts afresh', async () => {
    const outDir = freshDir();
    const first = setUp();
    await train(first.model, first.batcher, { ...lm, optimizer: first.optimizer, steps: 2, logEvery: 1, outDir });
    const metrics = readFileSync(join(outDir, 'metrics.jsonl'), 'utf8');
    const second = setUp();
    await assert.rejects(
      train(second.model, second.batcher, { ...lm, optimizer: second.optimizer, steps: 1, outDir }),
      (err: unknown) =>
        err instanceof TrainError &&
        err.message ===
          `${outDir} already holds a training run; pass --resume to continue it or --overwrite to start over`,
    );
    assert.equal(readFileSync(join(outDir, 'metrics.jsonl'), 'utf8'), metrics);
    assert.equal(trainerState(outDir).step, 2);
    await train(second.model, second.batcher, {
      ...lm,
      optimizer: second.optimizer,
      steps: 1,
      outDir,
      overwrite: true,
    });
    assert.deepEqual(
      readMetrics(outDir).map((r) => r.step),
      [1],
    );
    assert.equal(trainerState(outDir).step, 1);
  });

  it('a run that fails before writing anything leaves no empty outDir behind', async () => {
    const { model, optimizer, batcher } = setUp();
    const outDir = join(freshDir(), 'new');
    const nan = (m: DecoderForCausalLM, batch: Batch) => mul(causalLmLoss(m, batch), Number.NaN);
    await assert.rejects(train(model, batcher, { ...lm, loss: nan, optimizer, steps: 2, outDir }), TrainError);
    assert.equal(existsSync(outDir), false);
  });

  it('awaits an async evaluate, such as perplexity', async () => {
    const { model, optimizer, batcher } = setUp();
    const records: TrainRecord[] = [];
    const ids = Int32Array.from({ length: 64 }, (_, i) => i % model.config.vocabSize);
    await train(model, batcher, {
      ...lm,
      optimizer,
      steps: 2,
      evaluate: () => perplexity(model, ids, { seqlen: 16 }),
      onLog: (r) => records.push(r),
    });
    const [last] = records.slice(-1);
    assert.equal(last.step, 2);
    assert.ok(Number.isFinite(last.valPerplexity) && (last.valPerplexity as number) > 1, String(last.valPerplexity));
  });

  it('rejects resume without a checkpoint and checkpointing without an outDir', async () => {
    const { model, optimizer, batcher } = setUp();
    await assert.rejects(
      train(model, batcher, { ...lm, optimizer, steps: 2, resume: true, outDir: freshDir() }),
      TrainError,
    );
    await assert.rejects(train(model, batcher, { ...lm, optimizer, steps: 2, checkpointEvery: 1 }), TrainError);
    await assert.rejects(train(model, batcher, { ...lm, optimizer, steps: 0 }), TrainError);
  });
});

/** Inputs x: [8, 4] drawn afresh each batch (the state is the draw count, replayed from the seed). */
class RandomInputs implements Batcher<Tensor, number> {
  private rng = new Rng(5);
  private drawn = 0;
  next(): Tensor {
    this.drawn += 1;
    return randn([8, 4], { rng: this.rng });
  }
  getState(): number {
    return this.drawn;
  }
  setState(drawn: number): void {
    this.rng = new Rng(5);
    for (this.drawn = 0; this.drawn < drawn; ) this.next();
  }
}

/** Mean squared difference of two tensors of one shape. */
const mse = (a: Tensor, b: Tensor) => mean(mul(sub(a, b), sub(a, b)));

describe('train on any module', () => {
  it('distils a frozen teacher Linear into a student: the teacher stays as it was, in eval mode, without grad', async () => {
    const teacher = new Linear(4, 2, { bias: true, rng: new Rng(1), initStd: 1 });
    const student = new Linear(4, 2, { bias: true, rng: new Rng(2), initStd: 1 });
    const teacherWeights = teacher.weight.toArray();
    const records: TrainRecord[] = [];
    const result = await train(student, new RandomInputs(), {
      loss: (model, x) => mse(model.forward(x), teacher.forward(x)),
      frozen: [teacher],
      optimizer: new SGD(student.parameters(), { lr: 0.1 }),
      steps: 200,
      logEvery: 50,
      onLog: (r) => records.push(r),
    });
    assert.equal(result.stopped, 'completed');
    assert.ok(records[3].loss < 1e-3 * records[0].loss, `loss ${records[0].loss} → ${records[3].loss}`);
    // No tokens counter given: no tokens per second.
    assert.ok(records.every((r) => r.tokensPerSecond === undefined));
    assert.deepEqual(teacher.weight.toArray(), teacherWeights);
    assert.equal(teacher.training, false);
    assert.ok(teacher.parameters().every((p) => !p.requiresGrad && p.grad === null));
    assert.equal(student.training, true);
  });

  it('refuses a frozen model the optimiser updates', async () => {
    const student = new Linear(4, 2);
    const loss = (model: Linear, x: Tensor) => mean(model.forward(x));
    const optimizer = new SGD(student.parameters(), { lr: 0.1 });
    await assert.rejects(
      train(student, new RandomInputs(), { loss, frozen: [student], optimizer, steps: 1 }),
      (err: unknown) => err instanceof TrainError && /frozen model parameter 'weight'/.test(err.message),
    );
  });

  it('checkpoints and resumes a module that is not a decoder bit for bit (its state dict as model.safetensors)', async () => {
    const target = new Linear(4, 2, { bias: true, rng: new Rng(1), initStd: 1 });
    const loss = (model: Linear, x: Tensor) => mse(model.forward(x), target.forward(x));
    const run = async (
      steps: number,
      outDir?: string,
      resume = false,
      model = new Linear(4, 2, { rng: new Rng(2) }),
    ) => {
      const optimizer = new AdamW(model.parameters(), { lr: 0.01 });
      await train(model, new RandomInputs(), { loss, frozen: [target], optimizer, steps, outDir, resume });
      return model;
    };
    const straight = await run(8);
    const dir = freshDir();
    await run(4, dir);
    assert.ok(existsSync(join(dir, 'checkpoint', 'model.safetensors')));
    const resumed = await run(8, dir, true, new Linear(4, 2, { rng: new Rng(3) }));
    assert.deepEqual(resumed.weight.toArray(), straight.weight.toArray());
  });
});
