import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DataError } from '../../src/data/corpora.js';
import { readTaskExamples, readTaskTemplate } from '../../src/data/tasks.js';
import { loadTextSource } from '../../src/data/text-source.js';
import type { LitheError } from '../../src/engine/errors.js';
import { readDecoderConfig } from '../../src/io/checkpoint.js';
import { CheckpointError, fileErrorReason, jsonErrorMessage, printable } from '../../src/io/errors.js';
import { openSafetensors } from '../../src/io/safetensors.js';
import { openCheckpoint } from '../../src/io/sharded.js';
import { loadTokenizer, TokenizerError } from '../../src/io/tokenizer.js';
import { ConfigError } from '../../src/models/llama/config.js';

const scratch = mkdtempSync(join(tmpdir(), 'lithe-errors-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** A fresh directory under the scratch one. */
function freshDir(name: string): string {
  const dir = join(scratch, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

// Clear the screen, then bytes a binary file might hold: none of them may reach a terminal raw.
const GARBAGE = '\x1b[2J\x07\x00\x9b\u2028\ud800 garbage';

/** No C0/C1 control characters, separators or lone surrogates. */
function assertPrintable(text: string): void {
  assert.doesNotMatch(text, /[\p{C}\p{Zl}\p{Zp}]/u, JSON.stringify(text));
}

describe('printable and jsonErrorMessage', () => {
  it('escape control and non-printable characters JSON-style, and leave the rest alone', () => {
    assert.equal(printable('a\x1b[2Jb'), 'a\\u001b[2Jb');
    assert.equal(printable('\x00\x7f\x9b\u2028\ud800'), '\\u0000\\u007f\\u009b\\u2028\\ud800');
    assert.equal(printable('héllo wörld ✓ 🙂 "q"'), 'héllo wörld ✓ 🙂 "q"');
  });

  it("make V8's JSON.parse message, which quotes the input, printable", () => {
    let message = '';
    try {
      JSON.parse(GARBAGE);
    } catch (err) {
      message = jsonErrorMessage(err);
    }
    assert.match(message, /\\u001b\[2J/);
    assertPrintable(message);
  });

  it('fileErrorReason says what EISDIR, ENOENT and ENOTDIR mean', () => {
    assert.equal(fileErrorReason({ code: 'EISDIR' }), 'is a directory, not a file');
    assert.equal(fileErrorReason({ code: 'ENOENT' }), 'no such file');
    assert.match(fileErrorReason({ code: 'ENOTDIR' }), /not a directory/);
    assert.equal(fileErrorReason({ code: 'EIO', message: 'i/o error' }), 'cannot read (EIO)');
  });
});

describe('JSON files holding binary garbage', () => {
  it('config.json: a ConfigError naming the file, with the garbage escaped', () => {
    const dir = freshDir('config-garbage');
    writeFileSync(join(dir, 'config.json'), GARBAGE);
    assert.throws(
      () => readDecoderConfig(dir),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.ok(err.message.startsWith(`${join(dir, 'config.json')}: not valid JSON: `), err.message);
        assert.match(err.message, /\\u001b\[2J/);
        assertPrintable(err.message);
        return true;
      },
    );
  });

  it('tokenizer.json, a .jsonl text source, a task file and a safetensors header', () => {
    const dir = freshDir('json-garbage');
    writeFileSync(join(dir, 'tokenizer.json'), GARBAGE);
    writeFileSync(join(dir, 'docs.jsonl'), `{"text": "ok"}\n${GARBAGE}\n`);
    writeFileSync(join(dir, 'tasks.jsonl'), `${GARBAGE}\n`);
    const header = Buffer.from(GARBAGE);
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(header.length));
    writeFileSync(join(dir, 'model.safetensors'), Buffer.concat([length, header]));
    const cases: [() => unknown, new (...args: never[]) => LitheError, string][] = [
      [() => loadTokenizer(dir), TokenizerError, `${join(dir, 'tokenizer.json')}: invalid JSON`],
      [() => loadTextSource(join(dir, 'docs.jsonl')), DataError, `${join(dir, 'docs.jsonl')}:2: invalid JSON`],
      [() => readTaskExamples(join(dir, 'tasks.jsonl')), DataError, `${join(dir, 'tasks.jsonl')}:1: invalid JSON`],
      [() => openSafetensors(join(dir, 'model.safetensors')), CheckpointError, join(dir, 'model.safetensors')],
    ];
    for (const [fn, type, start] of cases) {
      assert.throws(fn, (err: unknown) => {
        assert.ok(err instanceof type, String(err));
        assert.ok(err.message.startsWith(start), err.message);
        assertPrintable(err.message);
        return true;
      });
    }
  });
});

describe('a directory where a file belongs', () => {
  it('is a typed error naming the path, for every reader', () => {
    const dir = freshDir('directories');
    for (const name of ['docs.txt', 'docs.jsonl', 'tasks.jsonl', 'template.txt', 'tok/tokenizer.json']) {
      mkdirSync(join(dir, name), { recursive: true });
    }
    for (const name of ['model/config.json', 'weights.safetensors', 'sharded/model.safetensors.index.json']) {
      mkdirSync(join(dir, name), { recursive: true });
    }
    const path = (name: string) => join(dir, name);
    const cases: [() => unknown, new (...args: never[]) => LitheError, string][] = [
      [() => loadTextSource(path('docs.txt')), DataError, path('docs.txt')],
      [() => loadTextSource(path('docs.jsonl')), DataError, path('docs.jsonl')],
      [() => readTaskExamples(path('tasks.jsonl')), DataError, path('tasks.jsonl')],
      [() => readTaskTemplate(path('template.txt')), DataError, path('template.txt')],
      [() => loadTokenizer(path('tok')), TokenizerError, path('tok/tokenizer.json')],
      [() => readDecoderConfig(path('model')), ConfigError, path('model/config.json')],
      [() => openSafetensors(path('weights.safetensors')), CheckpointError, path('weights.safetensors')],
      [() => openCheckpoint(path('sharded')), CheckpointError, path('sharded/model.safetensors.index.json')],
    ];
    for (const [fn, type, file] of cases) {
      assert.throws(fn, (err: unknown) => {
        assert.ok(err instanceof type, String(err));
        assert.ok(err.message.startsWith(`${file}: `), err.message);
        assert.match(err.message, /is a directory, not a file/);
        return true;
      });
    }
  });
});
