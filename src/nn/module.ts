import { ShapeError } from '../engine/errors.js';
import { shapesEqual } from '../engine/shape.js';
import type { Tensor } from '../engine/tensor.js';
import { assign_, maskInPlace_ } from '../ops/assign.js';

/** Called after a module's forward with its arguments and result (e.g. to gather a Linear's input statistics). */
export type ForwardHook = (module: Module, inputs: readonly unknown[], output: unknown) => void;

/** A registration that can be undone. */
export interface Disposable {
  dispose(): void;
}

export interface BufferOptions {
  /**
   * false: the buffer is not part of the saved state dict (as PyTorch's persistent=False), e.g. a pruning mask that
   * is rebuilt from the weights' zeros and the checkpoint's sparsity record.
   */
  persistent?: boolean;
}

interface BufferEntry {
  tensor: Tensor;
  persistent: boolean;
}

/** The mask each masked parameter must keep (bool, same shape): optimisers re-apply it after every step. */
const parameterMasks = new WeakMap<Tensor, Tensor>();

/** The mask a parameter must keep, or null: optimisers zero the masked entries after each update. */
export function parameterMask(param: Tensor): Tensor | null {
  return parameterMasks.get(param) ?? null;
}

/**
 * A tree of named parameters and buffers. Names join with '.', so a model built from Hugging Face's module
 * names has exactly the checkpoint's tensor names, and loading or saving is a name map.
 * Parameters keep their identity: setParameter copies into the existing tensor, so an optimiser holding it stays valid.
 */
export abstract class Module {
  private readonly ownParams = new Map<string, Tensor>();
  private readonly ownBuffers = new Map<string, BufferEntry>();
  private readonly children = new Map<string, Module>();
  private readonly forwardHooks = new Set<ForwardHook>();
  training = true;

  /** Register a trainable tensor under a local name; read it back with `p(name)`. */
  protected addParam(name: string, t: Tensor): Tensor {
    if (t.dtype === 'f32' || t.dtype === 'f64') t.requiresGrad_();
    this.ownParams.set(name, t);
    return t;
  }

  /** Register non-trainable state (a mask, running statistics, quantisation scales) under a local name. */
  protected addBuffer(name: string, t: Tensor, options: BufferOptions = {}): Tensor {
    if (this.ownParams.has(name)) throw new ShapeError(`${this.constructor.name} already has a parameter '${name}'`);
    this.ownBuffers.set(name, { tensor: t, persistent: options.persistent ?? true });
    return t;
  }

  /** Drop a local buffer (e.g. a mask that is removed); a missing name is a no-op. */
  protected removeBuffer(name: string): void {
    this.ownBuffers.delete(name);
  }

  /** Constrain a local parameter to a bool mask of its shape: it is zeroed where the mask is false, now and after every optimiser step. */
  protected maskParam(name: string, mask: Tensor | null): void {
    const param = this.p(name);
    if (mask === null) {
      parameterMasks.delete(param);
      return;
    }
    if (!shapesEqual(param.shape, mask.shape)) {
      throw new ShapeError(`mask [${mask.shape}] does not fit parameter '${name}' [${param.shape}]`);
    }
    maskInPlace_(param, mask);
    parameterMasks.set(param, mask);
  }

  protected addChild<M extends Module>(name: string, m: M): M {
    this.children.set(name, m);
    return m;
  }

  /** A direct child; modules read swappable children (a Linear that may become a LowRankLinear) through this. */
  protected child<M extends Module>(name: string): M {
    const m = this.children.get(name);
    if (!m) throw new ShapeError(`${this.constructor.name} has no child module '${name}'`);
    return m as M;
  }

  /**
   * Put `module` in place of the sub-module at a full dotted name (as torch's set_submodule), e.g. a Linear by its
   * factorised form. The parent must read that child through child(), so that the swap takes effect.
   */
  replaceModule(fullName: string, module: Module): void {
    const dot = fullName.lastIndexOf('.');
    const parent = dot < 0 ? this : this.namedModules().get(fullName.slice(0, dot));
    const name = fullName.slice(dot + 1);
    if (!parent?.children.has(name)) throw new ShapeError(`no sub-module named '${fullName}'`);
    parent.children.set(name, module);
  }

  /** A local parameter; modules read parameters through this so that replacing one takes effect. */
  protected p(name: string): Tensor {
    const t = this.ownParams.get(name);
    if (!t) throw new ShapeError(`${this.constructor.name} has no parameter '${name}'`);
    return t;
  }

  protected hasParam(name: string): boolean {
    return this.ownParams.has(name);
  }

  /** A local buffer, or null. */
  protected buffer(name: string): Tensor | null {
    return this.ownBuffers.get(name)?.tensor ?? null;
  }

  /** All parameters, depth first, by full dotted name. */
  namedParameters(prefix = ''): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [n, t] of this.ownParams) out.set(prefix + n, t);
    for (const [n, m] of this.children) {
      for (const [cn, t] of m.namedParameters(`${prefix}${n}.`)) out.set(cn, t);
    }
    return out;
  }

  parameters(): Tensor[] {
    return [...this.namedParameters().values()];
  }

  /** All buffers, depth first, by full dotted name; `persistentOnly` keeps those that belong to the saved state. */
  namedBuffers(options: { prefix?: string; persistentOnly?: boolean } = {}): Map<string, Tensor> {
    const { prefix = '', persistentOnly = false } = options;
    const out = new Map<string, Tensor>();
    for (const [n, b] of this.ownBuffers) if (b.persistent || !persistentOnly) out.set(prefix + n, b.tensor);
    for (const [n, m] of this.children) {
      for (const [cn, t] of m.namedBuffers({ prefix: `${prefix}${n}.`, persistentOnly })) out.set(cn, t);
    }
    return out;
  }

  /**
   * This module's own tensors as a checkpoint stores them, by local name: its parameters and persistent buffers, unless
   * it holds them in another form (a QuantLinear stores the weight its integer codes stand for, as a parameter).
   */
  protected ownCheckpointState(): { params: Map<string, Tensor>; buffers: Map<string, Tensor> } {
    const buffers = new Map<string, Tensor>();
    for (const [n, b] of this.ownBuffers) if (b.persistent) buffers.set(n, b.tensor);
    return { params: new Map(this.ownParams), buffers };
  }

  /**
   * Every tensor a checkpoint stores, by full dotted name, in the state dict's order (parameters depth first, then
   * persistent buffers): the state dict itself but for modules that hold a tensor in another form.
   */
  namedCheckpointState(): Map<string, Tensor> {
    const params = new Map<string, Tensor>();
    const buffers = new Map<string, Tensor>();
    for (const [name, m] of this.namedModules()) {
      const own = m.ownCheckpointState();
      const prefix = name === '' ? '' : `${name}.`;
      for (const [n, t] of own.params) params.set(prefix + n, t);
      for (const [n, t] of own.buffers) buffers.set(prefix + n, t);
    }
    return new Map([...params, ...buffers]);
  }

  /** Named sub-modules, depth first (this module is ''). */
  namedModules(prefix = ''): Map<string, Module> {
    const out = new Map<string, Module>([[prefix.replace(/\.$/, ''), this]]);
    for (const [n, m] of this.children) {
      for (const [cn, cm] of m.namedModules(`${prefix}${n}.`)) out.set(cn, cm);
    }
    return out;
  }

  /** The module that owns a dotted name's last part, and that part: 'a.b.weight' -> [module a.b, 'weight']. */
  private owner(fullName: string): [Module, string] {
    const dot = fullName.indexOf('.');
    if (dot >= 0) {
      const child = this.children.get(fullName.slice(0, dot));
      if (child) return child.owner(fullName.slice(dot + 1));
    }
    return [this, fullName];
  }

  /**
   * Write new values into a parameter by its full dotted name, keeping the parameter object (optimisers hold it);
   * the shape must not change, the values are converted to the parameter's dtype, and a mask on it is re-applied.
   */
  setParameter(fullName: string, t: Tensor): void {
    const [module, name] = this.owner(fullName);
    const old = module.ownParams.get(name);
    if (!old) throw new ShapeError(`no parameter named '${fullName}'`);
    if (!shapesEqual(old.shape, t.shape)) {
      throw new ShapeError(`parameter '${fullName}' has shape [${old.shape}], got [${t.shape}]`);
    }
    assign_(old, t);
    const mask = parameterMasks.get(old);
    if (mask) maskInPlace_(old, mask);
  }

  /** Write new values into a buffer by its full dotted name, keeping the buffer object; the shape must not change. */
  setBuffer(fullName: string, t: Tensor): void {
    const [module, name] = this.owner(fullName);
    const old = module.ownBuffers.get(name);
    if (!old) throw new ShapeError(`no buffer named '${fullName}'`);
    if (!shapesEqual(old.tensor.shape, t.shape)) {
      throw new ShapeError(`buffer '${fullName}' has shape [${old.tensor.shape}], got [${t.shape}]`);
    }
    assign_(old.tensor, t);
  }

  /**
   * Call `hook` after every forward of this module until the returned registration is disposed. The instance's
   * forward is wrapped only while it has hooks, so a module without hooks runs its class's forward directly.
   */
  registerForwardHook(hook: ForwardHook): Disposable {
    const self = this as unknown as { forward?: (...args: unknown[]) => unknown };
    const classForward = Object.getPrototypeOf(this).forward as ((...args: unknown[]) => unknown) | undefined;
    if (typeof classForward !== 'function') throw new ShapeError(`${this.constructor.name} has no forward to hook`);
    if (this.forwardHooks.size === 0) {
      self.forward = (...args: unknown[]) => {
        const output = classForward.apply(this, args);
        for (const h of [...this.forwardHooks]) h(this, args, output);
        return output;
      };
    }
    this.forwardHooks.add(hook);
    let disposed = false;
    return {
      dispose: () => {
        if (disposed) return;
        disposed = true;
        this.forwardHooks.delete(hook);
        if (this.forwardHooks.size === 0) Reflect.deleteProperty(self, 'forward');
      },
    };
  }

  train(flag = true): this {
    for (const m of this.namedModules().values()) m.training = flag;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Drop accumulated gradients before the next step. */
  zeroGrad(): void {
    for (const t of this.parameters()) t.grad = null;
  }
}
