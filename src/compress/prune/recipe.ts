import { parseDocument, stringify } from 'yaml';
import { LitheError } from '../../engine/errors.js';
import type { PruneMethod, PruneOptions } from './pipeline.js';

/** A recipe lithe cannot run as written: bad YAML, an unsupported modifier or field, contradictory values. */
export class RecipeError extends LitheError {}

/**
 * One pruning modifier of an llm-compressor recipe, as lithe will run it.
 * `targets` and `ignore` are llm-compressor's patterns (exact module names, class names such as 'Linear', or
 * 're:' regexes matched from the start of the name); recipeSkipList turns them into module names.
 */
export interface PruneRecipe {
  /** Where the recipe came from (a file path), for messages; undefined for an unnamed string. */
  source: string | undefined;
  /** Path of the modifier in the recipe, e.g. 'sparsity_stage.sparsity_modifiers.SparseGPTModifier'. */
  location: string;
  /** The modifier's type, e.g. 'SparseGPTModifier'. */
  modifier: string;
  method: PruneMethod;
  /** The target sparsity; with nm it is n/m. */
  sparsity: number;
  nm: [number, number] | null;
  allocation: 'uniform' | 'owl';
  /** OWL's m and λ (null without OWL). */
  owlM: number | null;
  owlLambda: number | null;
  /** Magnitude pruning's comparison group (null for the other methods). */
  magnitudeGroup: 'row' | 'layer' | null;
  targets: string[];
  ignore: string[];
  /**
   * 'within': targets name modules whose Linears are pruned (SparseGPT, Wanda: a decoder layer target prunes its
   * Linears); 'self': targets name the Linears themselves (MagnitudePruningModifier).
   */
  targetScope: 'within' | 'self';
  /** What parsing noticed without refusing: ignored keys, fields that have no effect. */
  warnings: string[];
}

/** The recipe as options of pruneModel, with the warnings of parsing and of matching the model's modules. */
export interface RecipePruneOptions extends Pick<PruneOptions, 'nm' | 'owlM' | 'owlLambda' | 'magnitudeGroup'> {
  method: PruneMethod;
  sparsity: number;
  allocation: 'uniform' | 'owl';
  /** Exact names of the block Linears left dense (valid pruneModel skip globs: names hold no '*' or '?'). */
  skip: string[];
  warnings: string[];
}

/** The PruneOptions a recipe records. */
export type RecipeOptions = Pick<
  PruneOptions,
  'method' | 'sparsity' | 'nm' | 'allocation' | 'owlM' | 'owlLambda' | 'magnitudeGroup' | 'skip'
>;

/** Modifier types lithe runs; LitheMagnitudePruningModifier is lithe's own (llm-compressor has no one-shot magnitude). */
const SUPPORTED = [
  'SparseGPTModifier',
  'WandaPruningModifier',
  'MagnitudePruningModifier',
  'LitheMagnitudePruningModifier',
];

/** What recipeFromOptions targets: every decoder layer, so every block Linear and never lm_head. */
const DECODER_LAYERS_TARGET = 're:model\\.layers\\.\\d+$';

/** Block Linears and lm_head, by name: what llm-compressor's class target 'Linear' matches in a lithe decoder. */
const LINEAR_NAME = /^(?:model\.layers\.\d+\.(?:self_attn|mlp)\.\w+_proj|lm_head)$/;

/** Class-name patterns lithe recognises, by the shape of the names of the modules of that class. */
const CLASS_NAMES: { cls: RegExp; names: RegExp }[] = [
  { cls: /^Linear$/, names: LINEAR_NAME },
  { cls: /^\w*DecoderLayer$/, names: /^model\.layers\.\d+$/ },
  { cls: /^\w*Attention$/, names: /^model\.layers\.\d+\.self_attn$/ },
  { cls: /^\w*MLP$/, names: /^model\.layers\.\d+\.mlp$/ },
];

/** Text from a recipe, made safe for a one-line message: control characters escaped, long text cut. */
function printable(text: string, max = 80): string {
  const escaped = text.replace(/[\p{Cc}\u2028\u2029]/gu, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return escaped.length > max ? `${escaped.slice(0, max)}…` : escaped;
}

/** A recipe value for a message. */
function describe(value: unknown): string {
  return printable(JSON.stringify(value) ?? String(value));
}

function recipeError(source: string | undefined, message: string): RecipeError {
  return new RecipeError(`recipe: ${source === undefined ? '' : `${printable(source, 200)}: `}${message}`);
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A Python `re` pattern as a JS RegExp with `re.match` semantics (anchored at the start only). Converts the
 * Python-only syntax that has a JS equivalent: (?P<name>…), (?P=name), \A, \Z and leading (?i)/(?m)/(?s) flags.
 */
function pythonRegex(pattern: string, fail: (message: string) => never): RegExp {
  let flags = '';
  let body = pattern;
  const inline = /^\(\?([a-zA-Z]+)\)/.exec(body);
  if (inline) {
    for (const flag of inline[1]) {
      if (!'ims'.includes(flag)) fail(`pattern 're:${printable(pattern)}': inline flag '${flag}' is not supported`);
      if (!flags.includes(flag)) flags += flag;
    }
    body = body.slice(inline[0].length);
  }
  let js = '';
  for (let i = 0; i < body.length; i++) {
    const rest = body.slice(i);
    if (rest[0] === '\\') {
      const next = rest[1] ?? '';
      js += next === 'A' ? '^' : next === 'Z' ? '$' : `\\${next}`;
      i++;
    } else if (rest.startsWith('(?P<')) {
      js += '(?<';
      i += 3;
    } else if (rest.startsWith('(?P=')) {
      const end = rest.indexOf(')');
      if (end < 0) fail(`pattern 're:${printable(pattern)}' is not a valid regular expression`);
      js += `\\k<${rest.slice(4, end)}>`;
      i += end;
    } else js += rest[0];
  }
  try {
    return new RegExp(`^(?:${js})`, flags);
  } catch {
    return fail(`pattern 're:${printable(pattern)}' is not a valid regular expression (or uses Python-only syntax)`);
  }
}

/** An llm-compressor target/ignore pattern as a predicate on module names: 're:' regex, exact name, or class name. */
function compilePattern(pattern: string, fail: (message: string) => never): (name: string) => boolean {
  if (pattern.startsWith('re:')) {
    const re = pythonRegex(pattern.slice(3), fail);
    return (name) => re.test(name);
  }
  const cls = CLASS_NAMES.find((c) => c.cls.test(pattern));
  return (name) => name === pattern || cls?.names.test(name) === true;
}

/** A modifier's fields, read once each; whatever is left unread is an unknown field. */
class Fields {
  private readonly read = new Set<string>();

  constructor(
    private readonly args: Record<string, unknown>,
    private readonly source: string | undefined,
    readonly location: string,
  ) {}

  fail(message: string): never {
    throw recipeError(this.source, `${this.location}: ${message}`);
  }

  /** The raw value; null reads as absent. */
  get(key: string): unknown {
    this.read.add(key);
    return this.args[key] ?? undefined;
  }

  number(key: string): number | undefined {
    const value = this.get(key);
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value))) {
      this.fail(`${key} must be a number, got ${describe(value)}`);
    }
    return value;
  }

  boolean(key: string): boolean | undefined {
    const value = this.get(key);
    if (value !== undefined && typeof value !== 'boolean')
      this.fail(`${key} must be true or false, got ${describe(value)}`);
    return value;
  }

  string(key: string): string | undefined {
    const value = this.get(key);
    if (value !== undefined && typeof value !== 'string') this.fail(`${key} must be a string, got ${describe(value)}`);
    return value;
  }

  /** A string or a list of strings. */
  strings(key: string): string[] | undefined {
    const value = this.get(key);
    if (value === undefined) return undefined;
    const list = Array.isArray(value) ? value : [value];
    if (!list.every((s) => typeof s === 'string'))
      this.fail(`${key} must be a list of strings, got ${describe(value)}`);
    return list as string[];
  }

  /** Accept a field only when absent or equal to what lithe does. */
  expect(key: string, wanted: unknown, why: string): void {
    const value = this.get(key);
    if (value !== undefined && value !== wanted) this.fail(`${key}: ${describe(value)} is not supported (${why})`);
  }

  /** Throws on the first field nothing read. */
  finish(): void {
    const unknown = Object.keys(this.args).find((key) => !this.read.has(key));
    if (unknown !== undefined) this.fail(`unknown field '${printable(unknown)}'`);
  }
}

/** Fields of llm-compressor's Modifier base class: metadata, and the training schedule lithe does not run. */
function modifierBaseFields(f: Fields): void {
  f.number('index');
  f.string('group');
  for (const key of ['start', 'end', 'update']) {
    if (f.get(key) !== undefined) f.fail(`${key}: training schedules are not supported (lithe prunes one-shot)`);
  }
}

/** mask_structure: '0:0' (llm-compressor's unstructured) or 'unstructured' → null, 'N:M' → [n, m]. */
function maskStructure(f: Fields, fallback: string): [number, number] | null {
  const mask = f.string('mask_structure') ?? fallback;
  if (mask === '0:0' || mask === 'unstructured') return null;
  const match = /^(\d+):(\d+)$/.exec(mask);
  const n = Number(match?.[1]);
  const m = Number(match?.[2]);
  if (!match || !(n > 0 && n < m)) {
    f.fail(`mask_structure must be '0:0' (unstructured) or 'N:M' with 0 < N < M, got ${describe(mask)}`);
  }
  return [n, m];
}

/** Check every pattern now, so a bad regex is reported against the recipe rather than the model. */
function patterns(f: Fields, key: string, fallback: string[]): string[] {
  const list = f.strings(key) ?? fallback;
  for (const pattern of list) compilePattern(pattern, (message) => f.fail(`${key}: ${message}`));
  return list;
}

type ModifierFields = Omit<PruneRecipe, 'source' | 'location' | 'modifier' | 'warnings'>;

/** SparsityModifierBase's fields (SparseGPT, Wanda, and lithe's magnitude modifier shaped like them). */
function sparsityFields(f: Fields, method: PruneMethod, warnings: string[]): ModifierFields {
  if (Array.isArray(f.get('sparsity'))) f.fail('per-layer sparsity lists are not supported by lithe');
  let sparsity = f.number('sparsity');
  if (sparsity === undefined) f.fail('sparsity is required');
  if (!(sparsity >= 0 && sparsity < 1)) f.fail(`sparsity must be in [0, 1), got ${sparsity}`);
  const nm = maskStructure(f, '0:0');
  const profile = f.string('sparsity_profile')?.toLowerCase();
  if (profile !== undefined && profile !== 'owl')
    f.fail(`sparsity_profile must be 'owl' or null, got ${describe(profile)}`);
  const owlM = f.number('owl_m');
  const owlLambda = f.number('owl_lmbda');
  const owlArgs = [profile !== undefined, owlM !== undefined, owlLambda !== undefined];
  if (owlArgs.some(Boolean) && !owlArgs.every(Boolean)) {
    f.fail('give all of sparsity_profile: owl, owl_m and owl_lmbda, or none (as llm-compressor requires)');
  }
  if (owlM !== undefined && !(owlM > 0)) f.fail(`owl_m must be > 0, got ${owlM}`);
  if (owlLambda !== undefined && !(owlLambda >= 0)) f.fail(`owl_lmbda must be ≥ 0, got ${owlLambda}`);
  let allocation: 'uniform' | 'owl' = profile === 'owl' ? 'owl' : 'uniform';
  if (nm) {
    const [n, m] = nm;
    if (sparsity !== n / m) {
      warnings.push(`${f.location}: sparsity ${sparsity} has no effect with ${n}:${m}, which prunes ${n / m}`);
      sparsity = n / m;
    }
    if (allocation === 'owl') {
      warnings.push(`${f.location}: sparsity_profile owl has no effect with ${n}:${m}; pruning uniformly`);
      allocation = 'uniform';
    }
  }
  const owl = allocation === 'owl';
  return {
    method,
    sparsity,
    nm,
    allocation,
    owlM: owl ? (owlM as number) : null,
    owlLambda: owl ? (owlLambda as number) : null,
    magnitudeGroup: null,
    targets: patterns(f, 'targets', ['Linear']),
    ignore: patterns(f, 'ignore', []),
    targetScope: 'within',
  };
}

/** Fields of llm-compressor's data pipeline that do not change lithe's result. */
function calibrationFields(f: Fields, warnings: string[]): void {
  f.boolean('sequential_update'); // deprecated in llm-compressor, always true there; lithe is sequential too
  f.expect('requires_calibration_data', true, 'a class constant of llm-compressor');
  const sequential = f.strings('sequential_targets');
  if (sequential?.some((t) => !/DecoderLayer$/.test(t))) {
    f.fail(`sequential_targets: lithe runs block by block (a *DecoderLayer), got ${describe(sequential)}`);
  }
  if (sequential) warnings.push(`${f.location}: sequential_targets ${describe(sequential)} is what lithe does`);
}

/** The fields of one supported modifier, or a RecipeError. */
function modifierFields(type: string, f: Fields, warnings: string[]): ModifierFields {
  modifierBaseFields(f);
  switch (type) {
    case 'SparseGPTModifier': {
      const fields = sparsityFields(f, 'sparsegpt', warnings);
      calibrationFields(f, warnings);
      f.expect('block_size', 128, "lithe's SparseGPT prunes 128 columns per block");
      f.expect('dampening_frac', 0.01, "lithe's SparseGPT dampens by 0.01 of the mean diagonal");
      f.expect('preserve_sparsity_mask', false, "lithe's SparseGPT chooses a fresh mask");
      f.boolean('offload_hessians'); // memory placement only
      return fields;
    }
    case 'WandaPruningModifier': {
      const fields = sparsityFields(f, 'wanda', warnings);
      calibrationFields(f, warnings);
      return fields;
    }
    case 'LitheMagnitudePruningModifier': {
      const fields = sparsityFields(f, 'magnitude', warnings);
      const group = f.string('magnitude_group') ?? 'row';
      if (group !== 'row' && group !== 'layer')
        f.fail(`magnitude_group must be 'row' or 'layer', got ${describe(group)}`);
      return { ...fields, magnitudeGroup: group };
    }
    default: {
      // llm-compressor's MagnitudePruningModifier is a training-time schedule; one-shot when it starts at its end.
      const init = f.number('init_sparsity');
      const final = f.number('final_sparsity');
      if (init === undefined || final === undefined) f.fail('init_sparsity and final_sparsity are required');
      if (init !== final)
        f.fail(`a gradual schedule (init_sparsity ${init} → final_sparsity ${final}) is not supported`);
      if (!(final >= 0 && final < 1)) f.fail(`final_sparsity must be in [0, 1), got ${final}`);
      if (maskStructure(f, 'unstructured')) f.fail("mask_structure must be 'unstructured' here");
      f.expect('apply_globally', false, 'lithe prunes each matrix on its own');
      f.boolean('leave_enabled'); // deprecated, forced false in llm-compressor
      f.string('update_scheduler'); // a constant schedule whatever its shape
      f.get('scheduler_args');
      const targets = f.strings('targets');
      if (targets === undefined) f.fail('targets is required');
      for (const pattern of targets) compilePattern(pattern, (message) => f.fail(`targets: ${message}`));
      return {
        method: 'magnitude',
        sparsity: final,
        nm: null,
        allocation: 'uniform',
        owlM: null,
        owlLambda: null,
        magnitudeGroup: 'layer', // its mask keeps the largest |w| of the whole tensor
        targets,
        ignore: [],
        targetScope: 'self',
      };
    }
  }
}

interface ModifierEntry {
  type: string;
  args: Record<string, unknown>;
  location: string;
}

/**
 * Every modifier of a recipe, in order. Layouts (llm-compressor's current and earlier parsers):
 * `<name>_stage: {<group>_modifiers: {Type: fields}}`, top-level `<group>_modifiers`, `stages: {<name>: …}`;
 * a group (or `modifiers`) holds a mapping of types or a list of `{Type: fields}` / `{type: Type, args: fields}`.
 * Other keys are ignored, as llm-compressor ignores them, with a warning.
 */
function collectModifiers(
  root: Record<string, unknown>,
  source: string | undefined,
  warnings: string[],
): ModifierEntry[] {
  const entries: ModifierEntry[] = [];
  const fail = (at: string, message: string): never => {
    throw recipeError(source, `${printable(at)}: ${message}`);
  };
  const isGroup = (key: string) => key === 'modifiers' || key.endsWith('_modifiers');
  const add = (type: string, args: unknown, at: string) => {
    if (args === null || args === undefined) entries.push({ type, args: {}, location: at });
    else if (isMapping(args)) entries.push({ type, args, location: at });
    else fail(at, `a modifier's fields must be a mapping, got ${describe(args)}`);
  };
  const group = (value: unknown, at: string) => {
    if (isMapping(value)) {
      for (const [type, args] of Object.entries(value)) add(type, args, `${at}.${type}`);
    } else if (Array.isArray(value)) {
      value.forEach((item, i) => {
        const keys = isMapping(item) ? Object.keys(item) : [];
        if (isMapping(item) && typeof item.type === 'string' && keys.every((k) => k === 'type' || k === 'args')) {
          add(item.type, item.args ?? null, `${at}[${i}].${item.type}`);
        } else if (isMapping(item) && keys.length === 1) add(keys[0], item[keys[0]], `${at}[${i}].${keys[0]}`);
        else fail(`${at}[${i}]`, 'a listed modifier is {Type: fields} or {type: Type, args: fields}');
      });
    } else fail(at, 'a modifier group must be a mapping or a list of modifiers');
  };
  const stage = (value: unknown, at: string) => {
    if (!isMapping(value)) return fail(at, 'a stage must be a mapping of *_modifiers groups');
    for (const [key, inner] of Object.entries(value)) {
      if (isGroup(key)) group(inner, `${at}.${key}`);
      else warnings.push(`${printable(`${at}.${key}`)}: ignored (not a *_modifiers group)`);
    }
  };
  for (const [key, value] of Object.entries(root)) {
    if (key.endsWith('_stage')) stage(value, key);
    else if (key === 'stages' && isMapping(value)) {
      for (const [name, inner] of Object.entries(value)) stage(inner, `stages.${name}`);
    } else if (isGroup(key)) group(value, key);
    else warnings.push(`${printable(key)}: ignored (not a *_stage or *_modifiers key)`);
  }
  return entries;
}

/** The YAML (or JSON) of a recipe as plain data; syntax errors name line:column and never echo the text. */
function parseYaml(text: string, source: string | undefined): unknown {
  const doc = parseDocument(text, { logLevel: 'silent' });
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem) {
    const at = problem.linePos?.[0];
    const reason = problem.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    const where = at ? `${source === undefined ? '' : `${printable(source, 200)}:`}${at.line}:${at.col}` : source;
    throw recipeError(where, printable(reason, 160));
  }
  return doc.toJS();
}

/**
 * Parse an llm-compressor recipe (YAML or JSON) holding exactly one pruning modifier: SparseGPTModifier,
 * WandaPruningModifier, a one-shot MagnitudePruningModifier, or lithe's LitheMagnitudePruningModifier.
 * Other modifiers, unknown fields, and fields asking for something lithe does not do raise a RecipeError.
 */
export function parseRecipe(text: string, source?: string): PruneRecipe {
  const root = parseYaml(text, source);
  if (!isMapping(root)) throw recipeError(source, 'a recipe is a mapping of stages (e.g. sparsity_stage:)');
  const warnings: string[] = [];
  const entries = collectModifiers(root, source, warnings);
  const unsupported = entries.find((e) => !SUPPORTED.includes(e.type));
  if (unsupported) {
    throw recipeError(
      source,
      `${printable(unsupported.type)} is not supported by lithe (supported: SparseGPTModifier, WandaPruningModifier)`,
    );
  }
  if (entries.length === 0) throw recipeError(source, 'no pruning modifier (SparseGPTModifier, WandaPruningModifier)');
  if (entries.length > 1) {
    throw recipeError(
      source,
      `${entries.length} pruning modifiers (${entries.map((e) => printable(e.location)).join(', ')}): lithe applies one per run`,
    );
  }
  const [{ type, args, location }] = entries;
  const f = new Fields(args, source, printable(location));
  const fields = modifierFields(type, f, warnings);
  f.finish();
  return { source, location: printable(location), modifier: type, ...fields, warnings };
}

/** The block Linears a recipe prunes and leaves dense in a model with these module names, and what did not match. */
function selectLinears(recipe: PruneRecipe, moduleNames: readonly string[]): { skip: string[]; warnings: string[] } {
  const fail = (message: string): never => {
    throw recipeError(recipe.source, `${recipe.location}: ${message}`);
  };
  const warnings: string[] = [];
  const linears = moduleNames.filter((name) => LINEAR_NAME.test(name));
  const targeted = new Set<string>();
  for (const pattern of recipe.targets) {
    const matches = compilePattern(pattern, fail);
    const hits = moduleNames.filter(matches);
    if (hits.length === 0) warnings.push(`${recipe.location}: targets '${printable(pattern)}' matches no module`);
    for (const linear of linears) {
      const inside = (hit: string) => hit === '' || linear === hit || linear.startsWith(`${hit}.`);
      if (recipe.targetScope === 'self' ? hits.includes(linear) : hits.some(inside)) targeted.add(linear);
    }
  }
  const ignored = new Set<string>();
  for (const pattern of recipe.ignore) {
    const hits = [...targeted].filter(compilePattern(pattern, fail));
    if (hits.length === 0)
      warnings.push(`${recipe.location}: ignore '${printable(pattern)}' matches no targeted Linear`);
    for (const hit of hits) ignored.add(hit);
  }
  const pruned = new Set([...targeted].filter((name) => !ignored.has(name)));
  if (pruned.delete('lm_head')) {
    warnings.push(
      `${recipe.location}: lithe never prunes lm_head, which llm-compressor would here (add 're:.*lm_head' to ignore)`,
    );
  }
  if (pruned.size === 0) {
    fail(`targets ${describe(recipe.targets)} and ignore ${describe(recipe.ignore)} leave no block Linear to prune`);
  }
  return { skip: linears.filter((name) => name !== 'lm_head' && !pruned.has(name)), warnings };
}

/** Names of the block Linears (e.g. 'model.layers.3.mlp.down_proj') the recipe leaves dense, given a model's modules. */
export function recipeSkipList(recipe: PruneRecipe, moduleNames: readonly string[]): string[] {
  return selectLinears(recipe, moduleNames).skip;
}

/** The recipe as pruneModel options for a model with these module names (e.g. `[...model.namedModules().keys()]`). */
export function recipeToPruneOptions(recipe: PruneRecipe, moduleNames: readonly string[]): RecipePruneOptions {
  const { skip, warnings } = selectLinears(recipe, moduleNames);
  return {
    method: recipe.method,
    sparsity: recipe.sparsity,
    ...(recipe.nm ? { nm: recipe.nm } : {}),
    allocation: recipe.allocation,
    ...(recipe.owlM !== null && recipe.owlLambda !== null ? { owlM: recipe.owlM, owlLambda: recipe.owlLambda } : {}),
    ...(recipe.magnitudeGroup ? { magnitudeGroup: recipe.magnitudeGroup } : {}),
    skip,
    warnings: [...recipe.warnings, ...warnings],
  };
}

/** A skip glob ('*' any characters, '?' one, whole name) as an llm-compressor 're:' pattern. */
function globToPattern(glob: string): string {
  const escaped = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return `re:${escaped}$`;
}

/**
 * An llm-compressor recipe equivalent to these options (written next to a run's output so it can be repeated;
 * parseRecipe reads it back to the same options). Magnitude, which llm-compressor has no one-shot modifier for,
 * is written as lithe's LitheMagnitudePruningModifier.
 */
export function recipeFromOptions(options: RecipeOptions): string {
  const { method, nm, allocation = 'uniform', skip = [] } = options;
  const fail = (message: string): never => {
    throw new RecipeError(`recipeFromOptions: ${message}`);
  };
  const types: Record<PruneMethod, string> = {
    sparsegpt: 'SparseGPTModifier',
    wanda: 'WandaPruningModifier',
    magnitude: 'LitheMagnitudePruningModifier',
  };
  const type = types[method] ?? fail(`unknown method '${method}'`);
  const sparsity = nm ? nm[0] / nm[1] : options.sparsity;
  if (sparsity === undefined) fail('give a sparsity or an N:M pattern');
  if (nm && options.sparsity !== undefined && options.sparsity !== sparsity) {
    fail(`sparsity ${options.sparsity} contradicts ${nm[0]}:${nm[1]}`);
  }
  if (nm && allocation === 'owl') fail('N:M needs uniform allocation');
  const fields: Record<string, unknown> = { sparsity, mask_structure: nm ? `${nm[0]}:${nm[1]}` : '0:0' };
  if (allocation === 'owl') {
    Object.assign(fields, { sparsity_profile: 'owl', owl_m: options.owlM ?? 5, owl_lmbda: options.owlLambda ?? 0.08 });
  }
  if (method === 'magnitude') fields.magnitude_group = options.magnitudeGroup ?? 'row';
  if (method === 'sparsegpt') Object.assign(fields, { block_size: 128, dampening_frac: 0.01 });
  Object.assign(fields, { targets: [DECODER_LAYERS_TARGET], ignore: skip.map(globToPattern) });
  const header = [
    "# lithe prune recipe, in llm-compressor's format: targets every decoder layer's Linears, ignore lists",
    '# the Linears left dense. Keep N:M quoted: PyYAML reads 2:4 unquoted as the number 124.',
    ...(method === 'magnitude'
      ? ["# LitheMagnitudePruningModifier is lithe's own (llm-compressor has no one-shot magnitude)."]
      : []),
  ];
  return `${header.join('\n')}\n${stringify({ sparsity_stage: { sparsity_modifiers: { [type]: fields } } }, { version: '1.1' })}`;
}
