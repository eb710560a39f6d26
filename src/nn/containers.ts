import { ShapeError } from '../engine/errors.js';
import type { Tensor } from '../engine/tensor.js';
import { Module } from './module.js';

/** A module whose forward maps one tensor to one tensor, the kind Sequential chains. */
export type TensorModule = Module & { forward(x: Tensor): Tensor };

/** torch.nn.ModuleList: children named '0', '1', …, so parameter names read `layers.3.mlp.weight`. */
export class ModuleList<M extends Module = Module> extends Module implements Iterable<M> {
  private count = 0;

  constructor(modules: Iterable<M> = []) {
    super();
    for (const m of modules) this.append(m);
  }

  /** Add a module under the next number and return it. */
  append<T extends M>(m: T): T {
    this.addChild(String(this.count++), m);
    return m;
  }

  get length(): number {
    return this.count;
  }

  /** The module at index i (negative counts from the end); read through child(), so replaceModule takes effect. */
  at(i: number): M {
    const index = i < 0 ? i + this.count : i;
    if (!Number.isInteger(i) || index < 0 || index >= this.count) {
      throw new ShapeError(`index ${i} is out of range for ${this.count} modules`);
    }
    return this.child<M>(String(index));
  }

  *[Symbol.iterator](): Iterator<M> {
    for (let i = 0; i < this.count; i++) yield this.child<M>(String(i));
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
