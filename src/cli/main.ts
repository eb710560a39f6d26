import { LitheError, UsageError } from '../engine/errors.js';
import { data } from './data.js';
import { demo } from './demo.js';
import { doctor } from './doctor.js';
import { evalCommand } from './eval.js';
import { generateCommand } from './generate.js';
import { pruneCommand } from './prune.js';
import { tokenizerCommand } from './tokenizer.js';
import { trainCommand } from './train.js';
import { litheVersion } from './version.js';

const HELP = `lithe: make neural networks smaller, cheaper to train and better aligned

Usage: lithe <command> [flags]

Commands:
  eval        perplexity (--data FILE|corpus:split) or multiple-choice accuracy (--task FILE.jsonl)
                lithe eval --model DIR --data sotu:test [--seqlen 256] [--batch 4] [--per-document] [--json]
                lithe eval --model DIR --task FILE.jsonl [--json]
  generate    continue a prompt: greedy, or sampled with --temperature, --top-k, --top-p, --seed
                lithe generate --model DIR --prompt TEXT [--max-tokens 64]
  prune       prune a checkpoint's block Linears; writes the pruned checkpoint plus report.json and report.html
                lithe prune --model DIR --out DIR --method magnitude|wanda|sparsegpt --sparsity S [--nm N:M]
                  [--group row|layer] (magnitude: compare weights per output row, default, or per matrix)
                  [--allocation uniform|owl --owl-m 5 --owl-lambda 0.08] [--skip GLOB]... [--calib sotu:train]
                  [--calib-format plain|icl|cot --icl-k 3 --calib-template FILE]
                  [--nsamples 128] [--seqlen T] [--seed 0] [--eval FILE|corpus:split] [--json]
                calibration: a corpus, a .txt, a .jsonl of {"text"} rows, arithmetic (generated word
                problems), or a .jsonl of {"question", "answer", "rationale"?} rows (laid out by --calib-format)
  train       train a LLaMA-style model from a preset (tiny, small) or continue a checkpoint
                lithe train --out DIR --tokenizer DIR [--preset tiny] [--data sotu:train] [--val sotu:val]
                  [--steps 200] [--batch 16] [--seqlen 256] [--lr 1e-3] [--resume] [--save-dtype bf16]
  tokenizer   train a GPT-2-style byte-level BPE; writes DIR/tokenizer.json (Python tokenizers loads it too)
                lithe tokenizer train --corpus sotu:train --vocab 8192 --out DIR [--min-frequency 0]
                  [--special TOKEN]... (default <|endoftext|>; repeat for several)
                corpus: sotu:train|val|test, moby:train|test, or a .txt / .jsonl file
  data        lithe data export --corpus sotu:test --out FILE
                corpora: sotu:train|val|test, moby:train|test, or a .txt / .jsonl file
  doctor      show the compute backend (native or ts), threads and native addon status
  demo        prune the embedded model (lithe-tiny) at 50% and 70% with magnitude, Wanda, Wanda+OWL,
              SparseGPT, SparseGPT+OWL, plus 2:4 Wanda and SparseGPT; prints a table, writes report.html
                lithe demo [--out lithe-demo] [--model DIR] [--nsamples 128] [--seqlen 256]
                  [--calib sotu:train] [--eval sotu:test] [--json]

Flags:
  -h, --help      show this help
  -v, --version   print the version

Environment:
  LITHE_BACKEND=ts   force the TypeScript kernels
  LITHE_THREADS=N    threads for the native kernels
`;

const COMMANDS: Record<string, (argv: string[]) => number | Promise<number>> = {
  data,
  demo,
  doctor,
  eval: evalCommand,
  generate: generateCommand,
  train: trainCommand,
  prune: pruneCommand,
  tokenizer: tokenizerCommand,
};

/** Run the CLI; returns the exit code. Errors lithe expects are one line on stderr, never a stack. */
export async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  try {
    if (first === undefined || first === '-h' || first === '--help' || first === 'help') {
      process.stdout.write(HELP);
      return 0;
    }
    if (first === '-v' || first === '--version') {
      process.stdout.write(`${litheVersion()}\n`);
      return 0;
    }
    if (first.startsWith('-')) throw new UsageError(`unknown flag '${first}' (see lithe --help)`);
    const command = COMMANDS[first];
    if (!command) throw new UsageError(`unknown command '${first}' (see lithe --help)`);
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(HELP);
      return 0;
    }
    return await command(rest);
  } catch (err) {
    if (err instanceof LitheError) {
      process.stderr.write(`lithe: ${err.message}\n`);
      return err instanceof UsageError ? 2 : 1;
    }
    const detail = process.env.LITHE_DEBUG ? (err as Error).stack : (err as Error).message;
    process.stderr.write(`lithe: internal error: ${detail}\n`);
    return 1;
  }
}
