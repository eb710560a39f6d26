import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type CommandSpec, closest, commandHelp, parseCommand } from '../../src/cli/flags.js';
import { allCommands } from '../../src/cli/main.js';
import { UsageError } from '../../src/engine/errors.js';
import { Rng } from '../../src/engine/rng.js';

const bin = fileURLToPath(new URL('../../../bin/lithe.js', import.meta.url));
const run = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

const spec = {
  name: 'demo-command',
  summary: 'a command for the tests',
  usage: '[flags]',
  flags: {
    out: { kind: 'string', value: 'DIR', required: true, help: 'where' },
    lr: { kind: 'number', default: 1e-3, min: 0, help: 'learning rate' },
    steps: { kind: 'int', default: 10, help: 'steps' },
    warmup: { kind: 'int', min: 0, help: 'warmup' },
    method: { kind: 'choice', choices: ['wanda', 'sparsegpt'], help: 'method' },
    skip: { kind: 'string', value: 'GLOB', multiple: true, help: 'skip' },
    json: { kind: 'boolean', help: 'json' },
  },
  examples: ['lithe demo-command --out x'],
} as const satisfies CommandSpec;

describe('parseCommand', () => {
  it('fills defaults, converts values and records which flags were given', () => {
    const v = parseCommand(spec, ['--out', 'x', '--steps', '20', '--skip', 'a', '--skip', 'b', '--json']);
    assert.equal(v.out, 'x');
    assert.equal(v.steps, 20);
    assert.equal(v.lr, 1e-3);
    assert.equal(v.warmup, undefined);
    assert.deepEqual(v.skip, ['a', 'b']);
    assert.equal(v.json, true);
    assert.deepEqual([...v.given].sort(), ['json', 'out', 'skip', 'steps']);
  });

  it('accepts 0 where the minimum is 0 (--warmup 0)', () => {
    assert.equal(parseCommand(spec, ['--out', 'x', '--warmup', '0']).warmup, 0);
  });

  it('reads a negative number after a space as the value, then range-checks it (--lr -1)', () => {
    assert.throws(
      () => parseCommand(spec, ['--out', 'x', '--lr', '-1']),
      (err: Error) => err instanceof UsageError && /--lr must be a number in \[0, inf\), got '-1'/.test(err.message),
    );
  });

  it('names the closest flag and lists the valid ones for an unknown flag', () => {
    assert.throws(
      () => parseCommand(spec, ['--out', 'x', '--step', '3']),
      (err: Error) => /unknown flag '--step' \(did you mean --steps\?\); valid flags: --out --lr/.test(err.message),
    );
  });

  it('suggests the closest choice', () => {
    assert.throws(() => parseCommand(spec, ['--out', 'x', '--method', 'wandaa']), /did you mean wanda\?/);
  });

  it('refuses stray arguments, missing required flags and missing values', () => {
    assert.throws(() => parseCommand(spec, ['--out', 'x', 'extra']), /unexpected argument 'extra'/);
    assert.throws(() => parseCommand(spec, []), /--out DIR is required/);
    assert.throws(() => parseCommand(spec, ['--out']), UsageError);
    assert.throws(() => parseCommand(spec, ['--out', 'x', '--steps', '1.5']), /integer/);
    assert.throws(() => parseCommand(spec, ['--out', 'x', '--steps', '0']), /integer in \[1/);
  });

  it('closest() suggests only near misses', () => {
    assert.equal(closest('sparsty', ['sparsity', 'seed']), 'sparsity');
    assert.equal(closest('zzzzzz', ['sparsity', 'seed']), undefined);
  });
});

describe('every command documents every flag it accepts', () => {
  for (const { spec: command } of allCommands()) {
    it(`lithe ${command.name} --help`, () => {
      const r = run([...command.name.split(' '), '--help']);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, commandHelp(command));
      assert.match(r.stdout, new RegExp(`^lithe ${command.name}: `));
      assert.match(r.stdout, /Examples:\n {2}(npx )?lithe /);
      assert.match(r.stdout, /Exit codes: 0 success; 1 runtime failure; 2 usage error/);
      for (const [name, flag] of Object.entries(command.flags)) {
        assert.ok(flag.help.length > 0, `--${name} has no help`);
        const line = r.stdout.split('\n').find((l) => l.startsWith(`  --${name}`));
        assert.ok(line, `--${name} is accepted but not documented`);
        const flagDefault = 'default' in flag ? flag.default : undefined;
        if (flagDefault !== undefined && flagDefault !== '') {
          const text = r.stdout.slice(r.stdout.indexOf(line)).replace(/\s+/g, ' ');
          assert.match(
            text.slice(0, 300),
            new RegExp(`default: ${String(flagDefault).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
          );
        }
      }
    });
  }

  it('each command prints its own help, not the global one', () => {
    const prune = run(['prune', '--help']).stdout;
    const train = run(['train', '--help']).stdout;
    assert.notEqual(prune, train);
    assert.match(train.replace(/\s+/g, ' '), /--save-dtype f32\|bf16\|f16 .*default: the --model's dtype, else f32/);
  });
});

describe('flag fuzzing: random values for every numeric flag never crash', () => {
  const rng = new Rng(7);
  const samples = [
    '0',
    '-1',
    '1e9',
    '1e400',
    'NaN',
    '-Infinity',
    '0.5',
    '',
    ' ',
    '1e-300',
    '99999999999999999999',
    'x',
    '2:4',
  ];
  const randomValue = () =>
    rng.uniform() < 0.6
      ? samples[Math.floor(rng.uniform() * samples.length)]
      : String((rng.uniform() - 0.5) * 10 ** Math.floor(rng.uniform() * 12));

  it('in process: each value parses or is a UsageError naming the flag', () => {
    for (const { spec: command } of allCommands()) {
      for (const [name, flag] of Object.entries(command.flags)) {
        if (flag.kind !== 'int' && flag.kind !== 'number') continue;
        for (let i = 0; i < 40; i++) {
          const value = randomValue();
          const required = Object.entries(command.flags).flatMap(([n, f]) =>
            'required' in f && f.required && n !== name ? [`--${n}`, f.kind === 'int' ? '8' : 'x'] : [],
          );
          try {
            const parsed = parseCommand(command, [...required, `--${name}`, value]) as Record<string, unknown>;
            assert.equal(typeof parsed[name], 'number');
            assert.ok(Number.isFinite(parsed[name] as number));
          } catch (err) {
            if (!(err instanceof UsageError)) throw err;
            assert.ok(err.message.includes('--'), err.message);
          }
        }
      }
    }
  });

  it('through the CLI: exit 0 or 2, one line, never a stack trace or an abort', () => {
    const commands = allCommands().filter(({ spec: s }) => 'model' in s.flags);
    for (let i = 0; i < 16; i++) {
      const { spec: command } = commands[i % commands.length];
      const numeric = Object.entries(command.flags).filter(([, f]) => f.kind === 'int' || f.kind === 'number');
      const [name] = numeric[Math.floor(rng.uniform() * numeric.length)];
      // A model that does not exist: whatever the value, the command stops at validation, never doing real work.
      const r = run([
        ...command.name.split(' '),
        '--model',
        '/nonexistent/model',
        '--out',
        '/nonexistent/out',
        `--${name}`,
        randomValue(),
      ]);
      assert.equal(r.status, 2, `${command.name} --${name}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.doesNotMatch(r.stderr, /\n\s+at |internal error/);
    }
  });
});
