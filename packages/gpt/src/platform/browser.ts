/**
 * The browser side of `@scratchgpt/gpt` (the package's default export condition): the same functions
 * as `platform/node.ts`, with files in the origin-private file system (OPFS) and downloads cached with
 * the Cache API. No Node built-in is imported, so bundlers never meet one.
 */
import type { Optimizer } from '@scratchgpt/core';
import { checkpointBytes, restoreCheckpoint, type CheckpointInfo, type LoadedCheckpoint } from '../checkpoint';
import type { PlatformIO } from '../files';
import { exportGPT2 } from '../gpt2-export';
import type { GPTModel } from '../model';
import { loadGPT2With, type LoadGPT2Options, type WeightsSource } from '../weights';
import { fetchCached, fetchCachedJsonText } from './browser-cache';
import { readFileBytes, readTextIfExists, writeFileAtomic, writeOpfsFile } from './browser-files';

export { fetchCached, readFileBytes, writeFileAtomic };

const browserIO: PlatformIO = {
  readFile: readFileBytes,
  readTextIfExists,
  sibling: (path, name) => (path.includes('/') ? `${path.slice(0, path.lastIndexOf('/') + 1)}${name}` : name),
  fetchCached,
  fetchCachedJsonText,
};

/**
 * Writes a checkpoint to the origin-private file system (OPFS), replacing the old one only once the
 * new one is complete; non-finite weights are refused before anything is written. Where there is no
 * OPFS the error says what to use instead (`checkpointBytes`).
 * @example
 * ```ts
 * await saveCheckpoint('runs/ckpt.safetensors', model, optimizer, { step });
 * ```
 */
export async function saveCheckpoint(path: string, model: GPTModel, optimizer?: Optimizer, info: CheckpointInfo = {}): Promise<void> {
  await writeOpfsFile(path, () => checkpointBytes(model, optimizer, info), `saveCheckpoint('${path}')`);
}

/** Reads and restores a checkpoint from OPFS, all or nothing (see {@link restoreCheckpoint}). */
export async function loadCheckpoint(path: string, model?: GPTModel): Promise<LoadedCheckpoint> {
  return restoreCheckpoint(await readFileBytes(path), model);
}

/**
 * Builds a GPTModel from GPT-2 weights — bytes, an http(s) URL (cached with the Cache API after a
 * validated download) or an OPFS path — in the Hugging Face or the book's layout. A `config.json`
 * beside the URL or file (or `options.config`) gives the architecture.
 * @example
 * ```ts
 * const model = await loadGPT2(gpt2WeightsUrl('gpt2'));
 * ```
 */
export function loadGPT2(source: WeightsSource, options: LoadGPT2Options = {}): Promise<GPTModel> {
  return loadGPT2With(browserIO, source, options);
}

/** Writes `model` as a Hugging Face GPT-2 directory (`model.safetensors` + `config.json`) in OPFS (see {@link exportGPT2}). */
export async function saveGPT2(dir: string, model: GPTModel): Promise<void> {
  const { safetensors, configJson } = await exportGPT2(model);
  const base = dir.replace(/\/+$/, '');
  await writeOpfsFile(`${base}/model.safetensors`, safetensors, `saveGPT2('${dir}')`);
  await writeOpfsFile(`${base}/config.json`, configJson, `saveGPT2('${dir}')`);
}
