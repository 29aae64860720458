/**
 * The Node side of `@scratchgpt/gpt` (the package's `node` export condition): files through `node:fs`,
 * downloads cached on disk. `platform/browser.ts` has the same functions for browsers.
 */
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Optimizer } from '@scratchgpt/core';
import { checkpointBytes, restoreCheckpoint, type CheckpointInfo, type LoadedCheckpoint } from '../checkpoint';
import type { PlatformIO } from '../files';
import { exportGPT2 } from '../gpt2-export';
import type { GPTModel } from '../model';
import { loadGPT2With, type LoadGPT2Options, type WeightsSource } from '../weights';
import { fetchCached, fetchCachedJsonText } from './node-cache';
import { readFileBytes, readTextIfExists, writeFileAtomic } from './node-files';

export { fetchCached, readFileBytes, writeFileAtomic };

const nodeIO: PlatformIO = {
  readFile: readFileBytes,
  readTextIfExists,
  sibling: (path, name) => join(dirname(path), name),
  fetchCached,
  fetchCachedJsonText,
};

/**
 * Writes a checkpoint file atomically (temp file + rename): a crash mid-save keeps the old file, and
 * a checkpoint with non-finite weights is refused before anything is written.
 * @example
 * ```ts
 * await saveCheckpoint('ckpt.safetensors', model, optimizer, { step });
 * ```
 */
export async function saveCheckpoint(path: string, model: GPTModel, optimizer?: Optimizer, info: CheckpointInfo = {}): Promise<void> {
  await writeFileAtomic(path, () => checkpointBytes(model, optimizer, info));
}

/** Reads and restores a checkpoint file, all or nothing (see {@link restoreCheckpoint}). */
export async function loadCheckpoint(path: string, model?: GPTModel): Promise<LoadedCheckpoint> {
  return restoreCheckpoint(await readFileBytes(path), model);
}

/**
 * Builds a GPTModel from GPT-2 weights — a safetensors file path, bytes, or an http(s) URL (downloaded
 * once into a validated disk cache) — in the Hugging Face or the book's layout. A `config.json` beside
 * the file or URL (or `options.config`) gives the architecture.
 * @example
 * ```ts
 * const model = await loadGPT2(gpt2WeightsUrl('gpt2')); // 124M, cached after the first download
 * const mine = await loadGPT2('exported/model.safetensors'); // reads exported/config.json too
 * ```
 */
export function loadGPT2(source: WeightsSource, options: LoadGPT2Options = {}): Promise<GPTModel> {
  return loadGPT2With(nodeIO, source, options);
}

/**
 * Writes `model` as a Hugging Face GPT-2 directory (`model.safetensors` + `config.json`, created if
 * needed) that `GPT2LMHeadModel.from_pretrained(dir)` loads (see {@link exportGPT2}).
 */
export async function saveGPT2(dir: string, model: GPTModel): Promise<void> {
  const { safetensors, configJson } = await exportGPT2(model);
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(join(dir, 'model.safetensors'), safetensors);
  await writeFileAtomic(join(dir, 'config.json'), configJson);
}
