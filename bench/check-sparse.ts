/**
 * Sparsity through fine-tuning, and pruned checkpoints in transformers, on ../shared/models/llama-ref:
 * - `lithe prune` (Wanda, 50%) writes a checkpoint whose config.json records its sparsity;
 * - `lithe train --model PRUNED` for 100 steps leaves exactly the same zeros in every block Linear (the masks are
 *   rebuilt from the record on load and hold through AdamW), while the other weights train;
 * - transformers loads the pruned and the fine-tuned checkpoints (tools/check_sparse_checkpoint.py): the record
 *   changes nothing it computes, the zeros match the record, and its logits match lithe's within LOGITS_TOLERANCE.
 * Exits 0 with a note when ../shared is absent; the transformers part is skipped without a Python with torch.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTextSource } from '../src/data/text-source.js';
import { noGrad } from '../src/engine/autograd.js';
import { loadDecoder } from '../src/io/checkpoint.js';
import { loadTokenizer } from '../src/io/tokenizer.js';
import type { DecoderForCausalLM } from '../src/models/llama/model.js';
import { Linear } from '../src/nn/linear.js';
import { findPython, repoRoot } from './python.js';

const MODEL_DIR = join(repoRoot, '..', 'shared', 'models', 'llama-ref');
const STEPS = 100;
const LOGIT_TOKENS = 32;
// Both engines compute in f32; they differ by summation order only.
const LOGITS_TOLERANCE = 1e-3;

function lithe(args: string[]): string {
  const run = spawnSync(process.execPath, [join(repoRoot, 'bin', 'lithe.js'), ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (run.status !== 0) throw new Error(`lithe ${args.join(' ')} failed (exit ${run.status})`);
  return run.stdout;
}

/** Each block Linear's zero positions, joined, by name. */
function zeroPositions(model: DecoderForCausalLM): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, m] of model.namedModules()) {
    if (!(m instanceof Linear) || !name.includes('.layers.')) continue;
    const w = m.weight.floatData();
    const zeros: number[] = [];
    for (let i = 0; i < w.length; i++) if (w[i] === 0) zeros.push(i);
    out.set(name, zeros.join(','));
  }
  return out;
}

interface PythonCheck {
  modules: number;
  global_sparsity: number;
  record_ignored: boolean;
  zero_mismatches: string[];
  max_abs_diff: number;
  max_abs_logit: number;
}

async function main(): Promise<number> {
  if (!existsSync(join(MODEL_DIR, 'config.json'))) {
    console.log(`skipped: ${MODEL_DIR} is not here`);
    return 0;
  }
  const work = mkdtempSync(join(tmpdir(), 'lithe-check-sparse-'));
  try {
    const pruned = join(work, 'pruned');
    const calib = ['--nsamples', '16', '--seqlen', '128'];
    lithe([
      'prune',
      '--model',
      MODEL_DIR,
      '--out',
      pruned,
      '--method',
      'wanda',
      '--sparsity',
      '0.5',
      ...calib,
      '--json',
    ]);
    const record = JSON.parse(readFileSync(join(pruned, 'config.json'), 'utf8')).sparsity;
    console.log(
      `pruned ${MODEL_DIR}: wanda 50%, config.json sparsity record: ${Object.keys(record.modules).length} modules, global ${record.global_sparsity.toFixed(6)}`,
    );
    const run = join(work, 'run');
    const trainArgs = ['--model', pruned, '--out', run, '--data', 'sotu:train', '--steps', String(STEPS)];
    lithe(['train', ...trainArgs, '--seqlen', '64', '--batch', '2', '--log-every', '25']);
    const tuned = join(run, 'model');

    const before = await loadDecoder(pruned);
    const after = await loadDecoder(tuned);
    const zerosBefore = zeroPositions(before);
    const zerosAfter = zeroPositions(after);
    const differing = [...zerosBefore].filter(([name, z]) => zerosAfter.get(name) !== z).map(([name]) => name);
    let changed = 0;
    let total = 0;
    for (const [name, p] of after.namedParameters()) {
      const a = p.floatData();
      const b = before.namedParameters().get(name)?.floatData() ?? [];
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) changed++;
      total += a.length;
    }
    const tunedRecord = JSON.parse(readFileSync(join(tuned, 'config.json'), 'utf8')).sparsity;
    const sameRecord = JSON.stringify(tunedRecord) === JSON.stringify(record);
    console.log(
      `fine-tuned ${STEPS} steps: ${((changed / total) * 100).toFixed(1)}% of the weights changed; block Linears whose zeros moved: ${differing.length} of ${zerosBefore.size}; record kept: ${sameRecord}`,
    );
    let ok = differing.length === 0 && changed > 0 && sameRecord;

    const { python, reason } = findPython(['torch', 'transformers']);
    if (!python) {
      console.log(`transformers check skipped: ${reason}`);
    } else {
      const tokenizer = loadTokenizer(MODEL_DIR);
      const ids = Array.from(tokenizer.encode(loadTextSource('sotu:test').documents[0])).slice(0, LOGIT_TOKENS);
      for (const [label, dir, model] of [
        ['pruned', pruned, before],
        ['fine-tuned', tuned, after],
      ] as const) {
        const logits = noGrad(() => model.forward([ids])).floatData();
        const file = join(work, `${label}-logits.json`);
        writeFileSync(file, JSON.stringify({ input_ids: [ids], logits: Array.from(logits) }));
        const check = spawnSync(python, [join(repoRoot, 'tools', 'check_sparse_checkpoint.py'), dir, file], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        if (check.status !== 0) throw new Error(`tools/check_sparse_checkpoint.py ${dir} failed`);
        const result = JSON.parse(check.stdout) as PythonCheck;
        const rowOk =
          result.record_ignored && result.zero_mismatches.length === 0 && result.max_abs_diff <= LOGITS_TOLERANCE;
        console.log(
          `transformers, ${label}: loads; logits with and without the record identical: ${result.record_ignored}; zeros as recorded: ${result.zero_mismatches.length === 0}; max |logits - lithe's| ${result.max_abs_diff.toExponential(2)} (largest logit ${result.max_abs_logit.toFixed(2)}, limit ${LOGITS_TOLERANCE})`,
        );
        ok &&= rowOk;
      }
    }
    console.log(ok ? 'check:sparse OK' : 'check:sparse FAILED');
    return ok ? 0 : 1;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

process.exit(await main());
