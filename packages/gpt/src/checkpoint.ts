/**
 * Checkpoints as safetensors: model parameters (`model/<name>`), optimizer state (`optimizer/<name>`),
 * and metadata (config, step, optimizer hyperparameters, anything extra) as JSON strings.
 * Bytes in/out work everywhere; `saveCheckpoint`/`loadCheckpoint` add atomic files in Node.
 */
import { AdamW, fromArray, type Optimizer, type Tensor } from '@scratchgpt/core';
import type { GPTConfig } from './config';
import { readFileBytes, writeFileAtomic } from './files';
import { GPTModel } from './model';
import { parseSafetensors, serializeSafetensors, type TensorToWrite } from './safetensors';

const FORMAT = 'scratchgpt-checkpoint-v1';

export interface CheckpointInfo {
  /** Optimizer steps taken so far. */
  step?: number;
  /** Anything JSON-serialisable (loss history, tokens seen, ...). */
  extra?: Record<string, unknown>;
}

async function toWrite(t: Tensor): Promise<TensorToWrite> {
  const data = await t.toArray();
  return { dtype: t.dtype === 'f32' ? 'F32' : t.dtype === 'i32' ? 'I32' : 'U32', shape: t.shape, data };
}

/** Serialises model (+ optimizer) to safetensors bytes (reads every tensor back once). */
export async function checkpointBytes(model: GPTModel, optimizer?: Optimizer, info: CheckpointInfo = {}): Promise<Uint8Array> {
  const tensors = new Map<string, TensorToWrite>();
  for (const [name, t] of model.namedParameters()) tensors.set(`model/${name}`, await toWrite(t));
  const optState = optimizer?.stateDict();
  if (optState) for (const [name, t] of optState.tensors) tensors.set(`optimizer/${name}`, await toWrite(t));
  return serializeSafetensors(tensors, {
    format: FORMAT,
    config: JSON.stringify(model.config),
    step: String(info.step ?? 0),
    optimizer: JSON.stringify(optState?.meta ?? null),
    extra: JSON.stringify(info.extra ?? {}),
  });
}

export interface LoadedCheckpoint {
  model: GPTModel;
  /** An AdamW restored from the checkpoint, when it holds AdamW state. */
  optimizer: AdamW | null;
  config: GPTConfig;
  step: number;
  extra: Record<string, unknown>;
}

/**
 * Restores a checkpoint: into `model` if given (its config must match), else into a new model built
 * from the saved config. The optimizer is rebuilt over the model's parameters.
 */
export function restoreCheckpoint(bytes: Uint8Array, model?: GPTModel): LoadedCheckpoint {
  const file = parseSafetensors(bytes);
  if (file.metadata.format !== FORMAT) throw new Error(`scratchgpt: not a scratchgpt checkpoint (format '${file.metadata.format ?? 'none'}')`);
  const config = JSON.parse(file.metadata.config) as GPTConfig;
  if (model && JSON.stringify(model.config) !== JSON.stringify(config)) {
    throw new Error(`scratchgpt: checkpoint config ${file.metadata.config} does not match the model's ${JSON.stringify(model.config)}`);
  }
  const target = model ?? new GPTModel(config);
  const upload = (prefix: string) => {
    const out = new Map<string, Tensor>();
    for (const [name, t] of file.tensors) {
      if (!name.startsWith(prefix)) continue;
      const dtype = t.data instanceof Float32Array ? 'f32' : t.data instanceof Int32Array ? 'i32' : 'u32';
      out.set(name.slice(prefix.length), fromArray(t.data, t.shape, { dtype }));
    }
    return out;
  };
  const weights = upload('model/');
  try {
    target.loadStateDict(weights);
  } finally {
    for (const t of weights.values()) t.dispose();
  }
  const optMeta = JSON.parse(file.metadata.optimizer ?? 'null') as Record<string, unknown> | null;
  let optimizer: AdamW | null = null;
  if (optMeta?.type === 'AdamW') {
    const m = optMeta as { lr: number; betas: [number, number]; eps: number; weightDecay: number };
    optimizer = new AdamW(target.namedParameters(), { lr: m.lr, betas: m.betas, eps: m.eps, weightDecay: m.weightDecay });
    const state = upload('optimizer/');
    try {
      optimizer.loadStateDict({ tensors: state, meta: optMeta });
    } finally {
      for (const t of state.values()) t.dispose();
    }
  }
  return { model: target, optimizer, config, step: Number(file.metadata.step ?? 0), extra: JSON.parse(file.metadata.extra ?? '{}') as Record<string, unknown> };
}

/** Node: writes a checkpoint atomically (temp file + rename); a crash mid-save keeps the old file. */
export async function saveCheckpoint(path: string, model: GPTModel, optimizer?: Optimizer, info: CheckpointInfo = {}): Promise<void> {
  const bytes = await checkpointBytes(model, optimizer, info);
  await writeFileAtomic(path, bytes);
}

/** Node: reads and restores a checkpoint file (see {@link restoreCheckpoint}). */
export async function loadCheckpoint(path: string, model?: GPTModel): Promise<LoadedCheckpoint> {
  return restoreCheckpoint(await readFileBytes(path), model);
}
