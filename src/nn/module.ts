import { ShapeError } from '../engine/errors.js';
import { shapesEqual } from '../engine/shape.js';
import type { Tensor } from '../engine/tensor.js';

/**
 * A tree of named parameters. Names join with '.', so a model built from Hugging Face's module
 * names has exactly the checkpoint's tensor names, and loading or saving is a name map.
 */
export abstract class Module {
  private readonly ownParams = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();
  training = true;

  /** Register a trainable tensor under a local name; read it back with `p(name)`. */
  protected addParam(name: string, t: Tensor): Tensor {
    if (t.dtype === 'f32' || t.dtype === 'f64') t.requiresGrad_();
    this.ownParams.set(name, t);
    return t;
  }

  protected addChild<M extends Module>(name: string, m: M): M {
    this.children.set(name, m);
    return m;
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

  /** Named sub-modules, depth first (this module is ''). */
  namedModules(prefix = ''): Map<string, Module> {
    const out = new Map<string, Module>([[prefix.replace(/\.$/, ''), this]]);
    for (const [n, m] of this.children) {
      for (const [cn, cm] of m.namedModules(`${prefix}${n}.`)) out.set(cn, cm);
    }
    return out;
  }

  /** Replace a parameter by its full dotted name; the shape must not change. */
  setParameter(fullName: string, t: Tensor): void {
    const dot = fullName.indexOf('.');
    if (dot >= 0) {
      const child = this.children.get(fullName.slice(0, dot));
      if (child) {
        child.setParameter(fullName.slice(dot + 1), t);
        return;
      }
    }
    const old = this.ownParams.get(fullName);
    if (!old) throw new ShapeError(`no parameter named '${fullName}'`);
    if (!shapesEqual(old.shape, t.shape)) {
      throw new ShapeError(`parameter '${fullName}' has shape [${old.shape}], got [${t.shape}]`);
    }
    this.addParam(fullName, t);
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
