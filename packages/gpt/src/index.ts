/**
 * @scratchgpt/gpt — GPT-2 tokenizer, data, model, generation, training, checkpoints and weights.
 * This is the browser (default) entry; Node gets `index.node.ts` through the package's `node` export
 * condition: the same API, with files and the download cache on disk instead of OPFS and the Cache API.
 */
// The device entry point, re-exported so that `import { init, GPTModel } from '@scratchgpt/gpt'` is enough:
// `await init()` before building a model (the same function as @scratchgpt/core's).
export { init, type DeviceOptions, type Gpu } from '@scratchgpt/core';
export * from './config';
export * from './tokenizer';
export * from './data';
export * from './model';
export * from './generate';
export * from './train';
export * from './loop';
export * from './safetensors';
export * from './files';
export * from './text';
export * from './checkpoint';
export * from './weights';
export * from './gpt2-export';
export type { DownloadInfo, DownloadOptions } from './download';
export type { FileData } from './platform/browser-files';
export { fetchCached, loadCheckpoint, loadGPT2, readFileBytes, saveCheckpoint, saveGPT2, writeFileAtomic } from './platform/browser';
