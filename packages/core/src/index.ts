/**
 * @scratchgpt/core — tensors in WebGPU buffers, WGSL kernels, autograd, nn modules and optimizers.
 * In Node import `@scratchgpt/core/node` instead (same API, plus Dawn as the adapter source).
 */
export * from './engine/device';
export { memory, trimPool, type MemoryInfo } from './engine/memory';
export { flush, sync, pendingCommands, recordCopy } from './engine/queue';
export * from './engine/tensor';
export * from './engine/graph';
// Loading the gradient engine installs Tensor.prototype.backward (listed in package.json `sideEffects`).
export { backward } from './autograd/backward';
export { scope, keep } from './engine/scope';
export * from './engine/kernel';
export * from './ops/creation';
export * from './ops/index';
export * from './nn/index';
export * from './optim/index';
export * from './ops/custom';
