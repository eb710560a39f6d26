import { Tensor } from '../engine/tensor.js';
import { ConfigError } from '../models/llama/config.js';
import { Linear } from '../nn/linear.js';
import type { Module } from '../nn/module.js';
import { countZeros } from '../ops/reduce.js';
import { CheckpointError } from './errors.js';

type Json = Record<string, unknown>;

/**
 * How a pruned model is sparse, as config.json's `sparsity` entry records it (transformers ignores the key): the
 * method, the structure, the sparsity over the block Linears, each masked module's, and the modules left dense.
 * lithe rebuilds each listed module's mask from its weight's zeros when it loads the checkpoint.
 */
export interface SparsityRecord {
  /** The pruning method, e.g. 'wanda'. */
  method: string;
  structure: 'unstructured' | 'N:M';
  /** [n, m] for N:M: n of every m consecutive input weights of a row are zero. */
  nm: [number, number] | null;
  /** Zeros / weights over the masked and the dense modules. */
  globalSparsity: number;
  /** Masked module (a Linear) -> zeros / weights of its weight. */
  modules: Record<string, number>;
  /** Modules pruning left dense (their own zeros count in globalSparsity). */
  dense: string[];
}

/** The record each model was pruned or loaded with, written again when it is saved (e.g. after fine-tuning). */
const records = new WeakMap<Module, SparsityRecord>();

export function setSparsityRecord(model: Module, record: SparsityRecord | null): void {
  if (record) records.set(model, record);
  else records.delete(model);
}

export function sparsityRecordOf(model: Module): SparsityRecord | null {
  return records.get(model) ?? null;
}

/**
 * config.json's `sparsity` entry for `model` saved as `stored` (its tensors as written), or null for a dense model
 * (no record and no masks). The masked Linears are the listed modules; every figure is measured on the stored
 * weights, so that the entry describes the file exactly (a bf16 or f16 save may round a tiny weight to zero). Masks
 * set without a record (by hand) are recorded as method 'unknown', unstructured, with no dense modules.
 */
export function sparsityEntry(model: Module, stored: ReadonlyMap<string, Tensor>): Json | null {
  const record = sparsityRecordOf(model);
  const masked = [...model.namedModules()]
    .filter(([, m]) => m instanceof Linear && m.mask !== null)
    .map(([name]) => name);
  if (!record && masked.length === 0) return null;
  const dense = (record?.dense ?? []).filter((name) => stored.has(`${name}.weight`));
  let zeros = 0;
  let total = 0;
  const measure = (name: string) => {
    const weight = stored.get(`${name}.weight`) as Tensor;
    const z = countZeros(weight);
    zeros += z;
    total += weight.size;
    return z / weight.size;
  };
  const modules = Object.fromEntries(masked.map((name) => [name, measure(name)]));
  for (const name of dense) measure(name);
  const structure = record?.structure ?? 'unstructured';
  return {
    method: record?.method ?? 'unknown',
    structure,
    ...(structure === 'N:M' && record?.nm ? { n: record.nm[0], m: record.nm[1] } : {}),
    global_sparsity: total === 0 ? 0 : zeros / total,
    modules,
    dense,
  };
}

const isFraction = (v: unknown): v is number => typeof v === 'number' && v >= 0 && v <= 1;

/** A config.json `sparsity` entry, checked; a malformed one is a ConfigError naming the field. */
export function parseSparsityEntry(raw: unknown, file: string | null = null): SparsityRecord {
  const fail = (what: string): never => {
    throw new ConfigError(`field 'sparsity' ${what}`, 'sparsity', file);
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return fail('must be an object');
  const entry = raw as Json;
  if (typeof entry.method !== 'string') fail("needs a string 'method'");
  if (entry.structure !== 'unstructured' && entry.structure !== 'N:M') {
    fail(`has structure ${JSON.stringify(entry.structure)} (expected 'unstructured' or 'N:M')`);
  }
  let nm: [number, number] | null = null;
  if (entry.structure === 'N:M') {
    const { n, m } = entry;
    if (!(Number.isInteger(n) && Number.isInteger(m) && (n as number) > 0 && (n as number) < (m as number))) {
      fail(`N:M needs integers 0 < n < m, got n ${JSON.stringify(n)}, m ${JSON.stringify(m)}`);
    }
    nm = [n as number, m as number];
  }
  if (!isFraction(entry.global_sparsity)) fail("needs a 'global_sparsity' in [0, 1]");
  const modules = entry.modules;
  if (typeof modules !== 'object' || modules === null || Array.isArray(modules)) {
    return fail("needs a 'modules' object (module name -> sparsity)");
  }
  for (const [name, s] of Object.entries(modules))
    if (!isFraction(s)) fail(`gives module '${name}' a sparsity outside [0, 1]`);
  const dense = entry.dense;
  if (!Array.isArray(dense) || dense.some((d) => typeof d !== 'string')) fail("needs a 'dense' list of module names");
  return {
    method: entry.method as string,
    structure: entry.structure as SparsityRecord['structure'],
    nm,
    globalSparsity: entry.global_sparsity as number,
    modules: { ...(modules as Record<string, number>) },
    dense: [...(dense as string[])],
  };
}

/** The first m-wide group of a row's weights with fewer than n zeros, as a sentence, or null when all have n. */
function nmViolation(keep: Uint8Array, inFeatures: number, [n, m]: [number, number]): string | null {
  for (let row = 0; row * inFeatures < keep.length; row++) {
    for (let col = 0; col + m <= inFeatures; col += m) {
      let zeros = 0;
      for (let i = 0; i < m; i++) if (keep[row * inFeatures + col + i] === 0) zeros++;
      if (zeros < n) return `row ${row}, columns ${col}..${col + m - 1} hold ${zeros} zeros, fewer than ${n} of ${m}`;
    }
  }
  return null;
}

/**
 * Rebuild each recorded module's mask from its (loaded) weight's zeros: the zero count must match the recorded
 * sparsity, and an N:M record's pattern must hold; a mismatch is a CheckpointError naming the tensor. All masks are
 * built and checked before any is set; the record stays with the model for its next save.
 */
export function restoreMasks(model: Module, record: SparsityRecord, dir: string): void {
  const modules = model.namedModules();
  const masks = Object.entries(record.modules).map(([name, sparsity]): [Linear, Tensor] => {
    const linear = modules.get(name);
    if (!(linear instanceof Linear)) {
      throw new CheckpointError(
        dir,
        `config.json's sparsity record lists '${name}', which is not a Linear of this ${model.constructor.name}`,
      );
    }
    const weight = linear.weight.floatData();
    const keep = new Uint8Array(weight.length);
    let zeros = 0;
    for (let i = 0; i < weight.length; i++) {
      if (weight[i] === 0) zeros++;
      else keep[i] = 1;
    }
    const expected = Math.round(sparsity * weight.length);
    if (zeros !== expected) {
      throw new CheckpointError(
        dir,
        `holds ${zeros} zeros, but config.json's sparsity record says ${expected} (sparsity ${sparsity} of ${weight.length}); the weights were changed after pruning`,
        `${name}.weight`,
      );
    }
    const violation = record.nm ? nmViolation(keep, linear.weight.shape[1], record.nm) : null;
    if (violation) {
      throw new CheckpointError(
        dir,
        `does not follow the recorded ${record.nm?.join(':')} pattern: ${violation}`,
        `${name}.weight`,
      );
    }
    return [linear, new Tensor(keep, linear.weight.shape, 'bool')];
  });
  for (const [linear, mask] of masks) linear.setMask(mask);
  setSparsityRecord(model, record);
}
