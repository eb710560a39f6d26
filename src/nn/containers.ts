import { ShapeError } from '../engine/errors.js';
import type { Tensor } from '../engine/tensor.js';
import { Module } from './module.js';

/** A module whose forward maps one tensor to one tensor, the kind Sequential chains. */
export type TensorModule = Module & { forward(x: Tensor): Tensor };

/** torch.nn.ModuleList: children named '0', '1', …, so parameter names read `layers.3.mlp.weight`. */
export class ModuleList<M extends Module = Module> extends Module implements Iterable<M> {
  private readonly items: M[] = [];

  constructor(modules: Iterable<M> = []) {
    super();
    for (const m of modules) this.append(m);
  }

  /** Add a module under the next number and return it. */
  append<T extends M>(m: T): T {
    this.items.push(this.addChild(String(this.items.length), m));
    return m;
  }

  get length(): number {
    return this.items.length;
  }

  /** The module at index i (negative counts from the end). */
  at(i: number): M {
    const m = this.items.at(i);
    if (!Number.isInteger(i) || !m) throw new ShapeError(`index ${i} is out of range for ${this.items.length} modules`);
    return m;
  }

  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
}

/** torch.nn.Sequential: numbered children ('0', '1', …) whose forwards run in order. */
export class Sequential extends ModuleList<TensorModule> {
  constructor(...modules: TensorModule[]) {
    super(modules);
  }

  forward(x: Tensor): Tensor {
    let h = x;
    for (const m of this) h = m.forward(h);
    return h;
  }
}
