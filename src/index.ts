// Public entry point of lithe: the engine, its ops, and the layers above them.
export * from './backends/registry.js';
export * from './engine/autograd.js';
export * from './engine/create.js';
export * from './engine/dtype.js';
export * from './engine/errors.js';
export * from './engine/rng.js';
export * from './engine/shape.js';
export * from './engine/tensor.js';
export * from './ops/activations.js';
export * from './ops/elementwise.js';
export * from './ops/matmul.js';
export * from './ops/reduce.js';
export * from './ops/views.js';
