/**
 * @scratchgpt/core — tensors in WebGPU buffers, WGSL kernels, autograd, nn modules and optimizers.
 * In Node import `@scratchgpt/core/node` instead (same API, plus Dawn as the adapter source).
 */
export * from './device';
export { memory, trimPool, type MemoryInfo } from './memory';
export { flush, sync, pendingCommands, recordCopy } from './queue';
export * from './tensor';
export * from './autograd';
export { scope, keep } from './scope';
export * from './kernel';
export * from './creation';
export * from './ops/index';
export * from './nn/index';
export * from './optim/index';
export * from './custom';
