/**
 * TODO's claim at lithe's scale: starting from one SFT model, DPO (sigmoid) and TODO are trained on arithmetic
 * preference sets with 0%, 10%, 20% and 30% tie pairs, with the same problems, steps, β, learning rate and seed, and
 * scored on held-out problems: preference accuracy on non-tie pairs (d > 0), TODO's three-way accuracy (all pairs),
 * and greedy answer accuracy. Everything goes to OUT: the data (lithe data arithmetic), sft/ (lithe train --task sft
 * on lithe-tiny, unless --sft DIR names one), one align run per cell, results.json and report.html (a chart and the
 * table, also printed). A finished run is reused, one with a checkpoint resumed. About 50 minutes on 2 cores.
 *
 *   npm run check:align -- [--out DIR] [--sft DIR] [--seed S]   (default: align-ties, seed 0)
 *
 * --seed S > 0 repeats the alignment runs with another batch order (the data, SFT model and test sets stay) into
 * OUT/seedS, with its own results.json and report.html.
 *
 * Exits 1 when a run fails.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../src/io/atomic.js';
import { EMBEDDED_MODEL_DIR } from '../src/models/embedded.js';
import { htmlPage, htmlSection, htmlTable, lineChartSvg } from '../src/report/html.js';
import { LITHE, runJson, runResumable } from './python.js';

const TIE_SHARES = [0, 0.1, 0.2, 0.3];
const LOSSES = { sigmoid: 'DPO (sigmoid)', todo: 'TODO' } as const;
/** One recipe for both losses: TRL's β 0.1 (TODO's paper uses 0.01), a learning rate that moves lithe-tiny in 150 steps. */
const ALIGN = ['--steps', '150', '--batch', '8', '--lr', '5e-5', '--beta', '0.1', '--max-length', '192'];
const LOGGING = ['--log-every', '10', '--checkpoint-every', '50'];
/** Three-way outcomes are scored at the β and α the runs trained with. */
const EVAL = ['--beta', '0.1', '--alpha', '0.5', '--max-length', '192'];

/** `lithe data arithmetic` into OUT/file, unless it is there. */
function data(out: string, file: string, args: readonly string[]): string {
  const path = join(out, file);
  if (!existsSync(path)) {
    const run = spawnSync(process.execPath, [LITHE, 'data', 'arithmetic', ...args, '--out', path], {
      stdio: 'inherit',
    });
    if (run.status !== 0) throw new Error(`lithe data arithmetic --out ${path} failed`);
  }
  return path;
}

interface Scores {
  accuracy: number;
  threeWayAccuracy: number;
  answers: number;
}

/** A model's held-out scores, cached in OUT/NAME.scores.json. */
function score(
  out: string,
  name: string,
  model: string,
  sft: string,
  tests: { pref: string; answers: string },
): Scores {
  const file = join(out, `${name}.scores.json`);
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as Scores;
  console.log(`scoring ${name} ...`);
  const pref = runJson<{ accuracy: number; threeWayAccuracy: number }>(process.execPath, [
    LITHE,
    'eval',
    '--model',
    model,
    '--ref',
    sft,
    '--preference',
    tests.pref,
    ...EVAL,
    '--json',
  ]);
  const answers = runJson<{ accuracy: number }>(process.execPath, [
    LITHE,
    'eval',
    '--model',
    model,
    '--answers',
    tests.answers,
    '--json',
  ]);
  const scores = { accuracy: pref.accuracy, threeWayAccuracy: pref.threeWayAccuracy, answers: answers.accuracy };
  writeFileAtomic(file, `${JSON.stringify(scores)}\n`);
  return scores;
}

function main(): number {
  const flag = (name: string) => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const base = flag('--out') ?? 'align-ties';
  const seed = Number(flag('--seed') ?? 0);
  if (!(Number.isInteger(seed) && seed >= 0)) throw new Error(`--seed must be an integer >= 0, got ${flag('--seed')}`);
  const run = ['--seed', String(seed), ...LOGGING];
  // The data, the SFT model and the test sets are shared; the runs of another seed go to their own directory.
  const out = seed === 0 ? base : join(base, `seed${seed}`);
  mkdirSync(out, { recursive: true });
  const sftTrain = data(base, 'sft-train.jsonl', ['--format', 'sft', '--n', '20000', '--seed', '1']);
  const tests = {
    answers: data(base, 'answers-test.jsonl', ['--format', 'sft', '--split', 'test', '--n', '200', '--seed', '7']),
    pref: data(base, 'pref-test.jsonl', [
      '--format',
      'preference',
      '--split',
      'test',
      '--n',
      '400',
      '--ties',
      '0.2',
      '--seed',
      '11',
    ]),
  };
  let sft = flag('--sft');
  if (!sft) {
    const dir = join(base, 'sft');
    runResumable(
      dir,
      [
        'train',
        '--task',
        'sft',
        '--model',
        EMBEDDED_MODEL_DIR,
        '--data',
        sftTrain,
        '--steps',
        '600',
        '--batch',
        '16',
        '--max-length',
        '192',
        '--lr',
        '1e-3',
        '--seed',
        '0',
        ...LOGGING,
      ],
      join(base, 'sft.result.json'),
    );
    sft = join(dir, 'model');
  }
  const sftAnswers = score(base, 'sft', sft, sft, tests).answers;

  const results: { ties: number; loss: string; scores: Scores }[] = [];
  for (const ties of TIE_SHARES) {
    const train = data(base, `pref-train-ties${ties * 100}.jsonl`, [
      '--format',
      'preference',
      '--n',
      '2000',
      '--ties',
      String(ties),
      '--seed',
      '3',
    ]);
    for (const loss of Object.keys(LOSSES)) {
      const name = `${loss}-ties${ties * 100}`;
      const alpha = loss === 'todo' ? ['--alpha', '0.5'] : [];
      const args = ['align', '--model', sft, '--data', train, '--loss', loss, ...alpha, ...ALIGN, ...run];
      runResumable(join(out, name), args, join(out, `${name}.result.json`));
      results.push({ ties, loss, scores: score(out, name, join(out, name, 'model'), sft, tests) });
    }
  }

  const percent = (x: number) => (Number.isNaN(x) ? 'n/a' : `${(100 * x).toFixed(1)}%`);
  const headers = [
    'ties in training',
    'loss',
    'preference accuracy (non-tie)',
    'three-way accuracy',
    'answer accuracy',
  ];
  const rows = results.map(({ ties, loss, scores }) => [
    `${ties * 100}%`,
    LOSSES[loss as keyof typeof LOSSES],
    percent(scores.accuracy),
    percent(scores.threeWayAccuracy),
    percent(scores.answers),
  ]);
  console.log(`| ${headers.join(' | ')} |\n|${headers.map(() => '---').join('|')}|`);
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);
  console.log(`SFT starting point: answer accuracy ${percent(sftAnswers)}`);
  const series = Object.entries(LOSSES).flatMap(([loss, label]) =>
    (['accuracy', 'threeWayAccuracy', 'answers'] as const).map((metric) => ({
      name: `${label}: ${{ accuracy: 'preference', threeWayAccuracy: 'three-way', answers: 'answers' }[metric]}`,
      points: results
        .filter((r) => r.loss === loss)
        .map((r) => [100 * r.ties, 100 * r.scores[metric]] as [number, number]),
    })),
  );
  const chart = lineChartSvg({
    title: 'Held-out accuracy against the share of ties in the preference data',
    xLabel: 'tie pairs in training (%)',
    yLabel: 'accuracy (%)',
    series,
  });
  const note = `<p>Starting point: the SFT model answers ${percent(sftAnswers)} of the held-out problems. Each run: ${[...ALIGN, ...run].join(' ')}; TODO with α 0.5. Held-out pairs: 400, 20% ties; problems: 200.</p>`;
  const body = htmlSection('Accuracy', chart) + htmlSection('Table', htmlTable(headers, rows)) + note;
  writeFileAtomic(join(out, 'results.json'), `${JSON.stringify({ sftAnswers, results }, null, 2)}\n`);
  writeFileAtomic(join(out, 'report.html'), htmlPage('lithe: DPO and TODO with ties', body));
  console.log(`wrote ${join(out, 'report.html')}`);
  return 0;
}

process.exitCode = main();
