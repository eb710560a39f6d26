/**
 * lithe's perplexity of ../shared/models/llama-ref on sotu:test against the number transformers
 * computed under the same protocol (test/golden/llama-ref-perplexity.json, made by tools/hf_perplexity.py).
 * Passes when they agree within 0.1%. Exits 0 with a note when ../shared is absent.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readChoiceTask } from '../src/cli/eval.js';
import { noGrad } from '../src/engine/autograd.js';
import { continuationLogProb, multipleChoice } from '../src/eval/multiple-choice.js';
import { loadDecoder } from '../src/io/checkpoint.js';
import { loadTokenizer } from '../src/io/tokenizer.js';
import { repoRoot } from './python.js';

const model = join(repoRoot, '..', 'shared', 'models', 'llama-ref');
if (!existsSync(join(model, 'config.json'))) {
  console.log(`skipped: ${model} is not here`);
  process.exit(0);
}
const golden = JSON.parse(readFileSync(join(repoRoot, 'test', 'golden', 'llama-ref-perplexity.json'), 'utf8')) as {
  perplexity: number;
  windows: number;
};
const run = spawnSync(
  process.execPath,
  [join(repoRoot, 'bin', 'lithe.js'), 'eval', '--model', model, '--data', 'sotu:test', '--seqlen', '256', '--json'],
  { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
);
if (run.status !== 0) {
  console.log('lithe eval failed');
  process.exit(1);
}
const lithe = JSON.parse(run.stdout) as { perplexity: number; windows: number; seconds: number };
const rel = Math.abs(lithe.perplexity - golden.perplexity) / golden.perplexity;
console.log(`transformers perplexity: ${golden.perplexity.toFixed(6)} (${golden.windows} windows)`);
console.log(
  `lithe perplexity:        ${lithe.perplexity.toFixed(6)} (${lithe.windows} windows, ${lithe.seconds.toFixed(1)} s)`,
);
console.log(`relative difference:     ${(rel * 100).toExponential(2)}% (limit 0.1%)`);
const pplOk = rel <= 1e-3 && lithe.windows === golden.windows;

// Multiple choice: every choice's summed log-probability, and acc / acc_norm, against transformers.
const mcGolden = JSON.parse(
  readFileSync(join(repoRoot, 'test', 'golden', 'llama-ref-multiple-choice.json'), 'utf8'),
) as {
  loglikelihoods: number[][];
  acc: number;
  acc_norm: number;
};
const items = readChoiceTask(join(repoRoot, 'test', 'golden', 'tasks', 'sotu-cloze.jsonl'));
const mcModel = await loadDecoder(model);
const tokenizer = loadTokenizer(model);
let worst = 0;
noGrad(() => {
  items.forEach((item, i) => {
    item.choices.forEach((choice, c) => {
      const lp = continuationLogProb(mcModel, tokenizer, item.context, ` ${choice}`);
      worst = Math.max(worst, Math.abs(lp - mcGolden.loglikelihoods[i][c]));
    });
  });
});
const mc = await multipleChoice(mcModel, tokenizer, items);
console.log(
  `multiple choice (${items.length} items): transformers acc ${mcGolden.acc.toFixed(4)} acc_norm ${mcGolden.acc_norm.toFixed(4)}`,
);
console.log(`                          lithe        acc ${mc.acc.toFixed(4)} acc_norm ${mc.accNorm.toFixed(4)}`);
console.log(`largest log-likelihood difference: ${worst.toExponential(2)} (limit 1e-3)`);
const mcOk = worst <= 1e-3 && mc.acc === mcGolden.acc && mc.accNorm === mcGolden.acc_norm;
const ok = pplOk && mcOk;
console.log(ok ? 'check:hf OK' : 'check:hf FAILED');
process.exit(ok ? 0 : 1);
