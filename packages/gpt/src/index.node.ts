/**
 * @scratchgpt/gpt for Node, selected by the package's `node` export condition: everything the default
 * (browser) entry exports, with these platform functions replaced by their Node versions — files
 * through `node:fs` (atomic writes that clean up after killed writers) and downloads cached on disk.
 */
export * from './index';
export { fetchCached, loadCheckpoint, loadGPT2, readFileBytes, saveCheckpoint, saveGPT2, writeFileAtomic } from './platform/node';
