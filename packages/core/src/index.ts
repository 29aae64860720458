/**
 * @scratchgpt/core — tensors in WebGPU buffers, WGSL kernels, autograd, nn modules and optimizers.
 * This is the browser (default) entry; Node resolves `@scratchgpt/core` to `node.ts` through the
 * package's `node` export condition (the same API, plus Dawn as the adapter source).
 */
export { VERSION } from './engine/version';
export * from './engine/device';
export { ScratchGPTError, type ErrorCode } from './engine/errors';
export { setLog, type LogLevel, type LogSetting, type LogSink } from './engine/log';
export { memory, peakMemory, resetPeakMemory, trimPool, type MemoryInfo, type Storage } from './engine/memory';
export { flush, sync, pendingCommands, commandCounts, recordCopy, type CommandCounts } from './engine/queue';
export * from './engine/tensor';
export * from './engine/graph';
export { autocast, autocastPrecision, type MatmulPrecision } from './engine/autocast';
// Loading the gradient engine installs Tensor.prototype.backward (listed in package.json `sideEffects`).
export { backward } from './autograd/backward';
export { scope, keep } from './engine/scope';
export * from './engine/kernel';
export * from './ops/creation';
// The float64 references (`*Ref`) and the op registry are in `@scratchgpt/core/testing` (src/testing.ts).
export * from './ops/index';
export {
  hasF16,
  hasSubgroups,
  reductionVariant,
  setKernelVariants,
  type AttentionVariant,
  type KernelVariantChoices,
  type ReductionVariant,
} from './ops/variants';
export * from './nn/index';
export * from './optim/index';
export * from './ops/custom';
