/**
 * `lithe lowrank --method welore` against the independent PyTorch reference (tools/lowrank_reference.py) on
 * ../shared/models/llama-ref, with perplexity on sotu:test (seqlen 256), at ERR 0.1, 0.3 and 0.5. The reference
 * is given lithe's τ (--tau), so the check is of everything that follows from it. Per ERR:
 * - every module's rank equal (same modules, same order) and the achieved ERR identical;
 * - perplexity after within 0.5%; the uncompressed perplexity within 0.1% (as check:hf).
 * Then lithe alone, both methods at ERR 0.1/0.3/0.5/0.7: the README's table of parameters and perplexity; and
 * tools/check_lowrank_merge.py: transformers loads `--merge` output with the factorised model's logits.
 * Exits 0 with a note when ../shared or a Python with torch, transformers and safetensors is missing; 1 when a
 * check fails.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LowRankReport } from '../src/workflows/lowrank.js';
import { MODEL_DIR, SEQLEN, writeEvalText } from './prune-data.js';
import { LITHE, referencePython, repoRoot, runJson } from './python.js';

const CHECKED_ERRS = [0.1, 0.3, 0.5];
const TABLE_ERRS = [0.1, 0.3, 0.5, 0.7];
const PPL_TOLERANCE = 5e-3;
const DENSE_TOLERANCE = 1e-3;

const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

function main(): number {
  const python = referencePython(MODEL_DIR);
  if (!python) return 0;
  const work = mkdtempSync(join(tmpdir(), 'lithe-check-lowrank-'));
  try {
    const evalText = writeEvalText(work);
    const out = join(work, 'compressed');
    const started = performance.now();
    const lithe = (method: string, err: number): LowRankReport => {
      const t0 = performance.now();
      const report: LowRankReport = runJson(process.execPath, [
        LITHE,
        'lowrank',
        '--model',
        MODEL_DIR,
        '--out',
        out,
        '--method',
        method,
        '--err',
        String(err),
        '--eval',
        evalText,
        '--seqlen',
        String(SEQLEN),
        '--json',
      ]);
      rmSync(out, { recursive: true, force: true });
      console.error(`lithe ${method} ${err}: ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      return report;
    };
    console.log(`model: ${MODEL_DIR}; eval sotu:test, seqlen ${SEQLEN}; the reference takes lithe's τ`);
    const widths = [5, 10, 16, 8, 10, 10, 9, 4];
    const row = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join(' | ');
    console.log(row(['ERR', 'τ', 'ranks', 'ERR', 'ppl torch', 'ppl lithe', 'rel diff', 'pass']));
    console.log(row(widths.map((w) => '-'.repeat(w))));
    let ok = true;
    let denseTorch: number | null = null;
    let denseLithe: number | null = null;
    const welore = new Map<number, LowRankReport>();
    for (const err of CHECKED_ERRS) {
      const mine = lithe('welore', err);
      welore.set(err, mine);
      if (mine.tau === null) throw new Error(`lithe lowrank --method welore --err ${err} reported no τ`);
      const t0 = performance.now();
      const torch: LowRankReport = runJson(python, [
        join(repoRoot, 'tools', 'lowrank_reference.py'),
        '--model',
        MODEL_DIR,
        '--method',
        'welore',
        '--err',
        String(err),
        '--tau',
        String(mine.tau),
        '--text',
        evalText,
        '--seqlen',
        String(SEQLEN),
        ...(denseTorch === null ? [] : ['--no-eval-before']),
      ]);
      console.error(`reference welore ${err}: ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      denseLithe ??= mine.perplexity?.before ?? null;
      denseTorch ??= torch.perplexity?.before ?? null;
      const sameModules =
        mine.modules.length === torch.modules.length && mine.modules.every((m, i) => m.name === torch.modules[i].name);
      const rankDiffs = sameModules ? mine.modules.filter((m, i) => m.rank !== torch.modules[i].rank).length : -1;
      const errOk = mine.achievedErr === torch.achievedErr;
      const pplTorch = torch.perplexity?.after ?? Number.NaN;
      const pplLithe = mine.perplexity?.after ?? Number.NaN;
      const diff = rel(pplLithe, pplTorch);
      const pass = rankDiffs === 0 && errOk && diff <= PPL_TOLERANCE;
      ok &&= pass;
      console.log(
        row([
          String(err),
          mine.tau.toPrecision(6),
          rankDiffs === 0 ? 'equal' : rankDiffs < 0 ? 'modules differ' : `${rankDiffs} differ`,
          errOk ? mine.achievedErr.toFixed(4) : `${mine.achievedErr}≠${torch.achievedErr}`,
          pplTorch.toFixed(3),
          pplLithe.toFixed(3),
          `${(diff * 100).toFixed(3)}%`,
          pass ? 'yes' : 'NO',
        ]),
      );
    }
    const denseOk = denseTorch !== null && denseLithe !== null && rel(denseLithe, denseTorch) <= DENSE_TOLERANCE;
    ok &&= denseOk;
    console.log(
      `uncompressed perplexity: torch ${denseTorch?.toFixed(3)}, lithe ${denseLithe?.toFixed(3)} (limit ${DENSE_TOLERANCE * 100}%)${denseOk ? '' : ' FAILED'}`,
    );
    console.log(`limits: equal ranks, identical ERR, perplexity after ≤ ${PPL_TOLERANCE * 100}%`);

    console.log('\nlithe, uniform SVD against WeLore at equal ERR (perplexity on sotu:test, seqlen 256):\n');
    const before = welore.get(CHECKED_ERRS[0]) as LowRankReport;
    console.log('| ERR | method | parameters | perplexity |');
    console.log('| --- | --- | ---: | ---: |');
    console.log(`| 0 | dense | ${before.parameters.before.toLocaleString('en-US')} | ${denseLithe?.toFixed(2)} |`);
    for (const err of TABLE_ERRS) {
      for (const method of ['svd', 'welore']) {
        const report = (method === 'welore' && welore.get(err)) || lithe(method, err);
        console.log(
          `| ${err * 100}% | ${method} | ${report.parameters.after.toLocaleString('en-US')} | ${report.perplexity?.after?.toFixed(2)} |`,
        );
      }
    }
    // --merge output in transformers against lithe's factorised model, on the tiny LLaMA, Qwen2 and Mistral.
    const merge = spawnSync(python, [join(repoRoot, 'tools', 'check_lowrank_merge.py')], { encoding: 'utf8' });
    console.log(`\n${merge.stdout.trim()}`);
    ok &&= merge.status === 0;
    console.log(`\ntotal ${((performance.now() - started) / 60000).toFixed(1)} min`);
    console.log(ok ? 'check:lowrank OK' : 'check:lowrank FAILED');
    return ok ? 0 : 1;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

process.exit(main());
