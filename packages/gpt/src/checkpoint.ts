/**
 * Checkpoints as safetensors: model parameters (`model/<name>`), optimizer state (`optimizer/<name>`),
 * and metadata (config, step, optimizer hyperparameters, anything extra) as JSON strings.
 * Bytes in/out work everywhere; `saveCheckpoint`/`loadCheckpoint` (per platform) add files.
 *
 * Saving refuses non-finite weights (a diverged run must not replace a good checkpoint). Restoring is
 * all-or-nothing: the whole file is validated — metadata, every model tensor, the optimizer state —
 * before anything is copied into a model, and a failure frees whatever was built.
 */
import { AdamW, fromArray, type Optimizer, ScratchGPTError, type Tensor } from '@scratchgpt/core';
import { validateConfig, type GPTConfig } from './config';
import { GPTModel } from './model';
import { readFiniteTensor } from './readback';
import { parseSafetensors, serializeSafetensors, type DecodedTensor, type TensorToWrite } from './safetensors';

const FORMAT = 'scratchgpt-checkpoint-v1';

export interface CheckpointInfo {
  /** Optimizer steps taken so far. */
  step?: number;
  /** Anything JSON-serialisable (loss history, tokens seen, ...). */
  extra?: Record<string, unknown>;
}

/**
 * Serialises model (+ optimizer) to safetensors bytes (reads every tensor back once). Throws, naming
 * the tensor, when a weight or optimizer moment is not finite.
 * @example
 * ```ts
 * const bytes = await checkpointBytes(model, optimizer, { step: 100 });
 * // browser: offer it as a download
 * const url = URL.createObjectURL(new Blob([bytes]));
 * ```
 */
export async function checkpointBytes(model: GPTModel, optimizer?: Optimizer, info: CheckpointInfo = {}): Promise<Uint8Array> {
  const tensors = new Map<string, TensorToWrite>();
  for (const [name, t] of model.namedParameters()) tensors.set(`model/${name}`, await readFiniteTensor(`model/${name}`, t, 'save the checkpoint'));
  const optState = optimizer?.stateDict();
  if (optState) for (const [name, t] of optState.tensors) tensors.set(`optimizer/${name}`, await readFiniteTensor(`optimizer/${name}`, t, 'save the checkpoint'));
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
  /** An AdamW restored from the checkpoint (over the model's parameters), when it holds AdamW state. */
  optimizer: AdamW | null;
  config: GPTConfig;
  step: number;
  extra: Record<string, unknown>;
}

function damaged(why: string): Error {
  return new ScratchGPTError('format', `scratchgpt: damaged checkpoint: ${why}`);
}

/** A metadata entry as JSON; a clear error (not a bare SyntaxError) when it is not. */
function metaJson<T>(metadata: Record<string, string>, key: string, fallback: string): T {
  const text = metadata[key] ?? fallback;
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    const shown = text.length > 60 ? `${text.slice(0, 60)}...` : text;
    throw damaged(`its '${key}' metadata is not valid JSON (${err instanceof Error ? err.message : String(err)}): ${shown}`);
  }
}

/** The saved f32 tensor `name`, checked against the shape it must have. */
function savedTensor(file: Map<string, DecodedTensor>, name: string, shape: readonly number[]): DecodedTensor {
  const t = file.get(name);
  if (!t) throw damaged(`tensor '${name}' is missing`);
  if (t.shape.join() !== shape.join()) throw damaged(`tensor '${name}' has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
  if (!(t.data instanceof Float32Array)) throw damaged(`tensor '${name}' is ${t.dtype}, expected F32`);
  return t;
}

interface OptimizerPlan {
  meta: Record<string, unknown>;
  /** State tensor name (without `optimizer/`) → its saved data. */
  tensors: Map<string, DecodedTensor>;
}

/** Validates the saved optimizer state against the model's parameters (nothing is built). */
function planOptimizer(file: Map<string, DecodedTensor>, meta: Record<string, unknown> | null, params: [string, Tensor][]): OptimizerPlan | null {
  const saved = [...file.keys()].filter((n) => n.startsWith('optimizer/'));
  if (meta === null) {
    if (saved.length > 0) throw damaged(`it holds tensor '${saved[0]}' but no optimizer metadata`);
    return null;
  }
  if (typeof meta !== 'object' || Array.isArray(meta)) throw damaged(`its optimizer metadata is not an object: ${JSON.stringify(meta)}`);
  const tensors = new Map<string, DecodedTensor>();
  const take = (name: string, shape: readonly number[]) => tensors.set(name, savedTensor(file, `optimizer/${name}`, shape));
  if (meta.type === 'AdamW') {
    const steps = meta.steps as Record<string, unknown> | undefined;
    for (const [name, p] of params) {
      take(`${name}.exp_avg`, p.shape);
      take(`${name}.exp_avg_sq`, p.shape);
      const s = steps?.[name];
      if (typeof s !== 'number' || !Number.isInteger(s) || s < 0) throw damaged(`the optimizer state has no valid step count for '${name}' (got ${String(s)})`);
    }
  } else {
    // Not silently dropped: the caller would resume with a fresh optimizer without knowing it.
    throw new ScratchGPTError('format', `scratchgpt: the checkpoint holds ${JSON.stringify(meta.type)} optimizer state; restoreCheckpoint restores AdamW state only`);
  }
  const unexpected = saved.find((n) => !tensors.has(n.slice('optimizer/'.length)));
  if (unexpected) throw damaged(`tensor '${unexpected}' belongs to no parameter of the model`);
  return { meta, tensors };
}

function upload(t: DecodedTensor): Tensor {
  return fromArray(t.data, t.shape);
}

/** Builds the AdamW over `model` and copies the planned state in; frees everything on failure. */
function buildOptimizer(model: GPTModel, plan: OptimizerPlan): AdamW {
  const m = plan.meta as { lr: number; betas: [number, number]; eps: number; weightDecay: number };
  // The constructor validates the hyperparameters before it allocates anything. Fused where it can
  // be, like trainLoop's own optimizer (the same bits either way).
  const optimizer = new AdamW(model.namedParameters(), { lr: m.lr, betas: m.betas, eps: m.eps, weightDecay: m.weightDecay, fused: 'auto' });
  const state = new Map<string, Tensor>();
  try {
    for (const [name, t] of plan.tensors) state.set(name, upload(t));
    optimizer.loadStateDict({ tensors: state, meta: plan.meta });
    return optimizer;
  } catch (err) {
    optimizer.dispose();
    throw err;
  } finally {
    for (const t of state.values()) t.dispose();
  }
}

/**
 * Restores a checkpoint: into `model` if given (its config must match), else into a new model built
 * from the saved config; the optimizer is rebuilt over the model's parameters. All or nothing: the
 * file is validated completely first; on any error the given model is unchanged and nothing built
 * here stays allocated.
 */
export function restoreCheckpoint(bytes: Uint8Array, model?: GPTModel): LoadedCheckpoint {
  const file = parseSafetensors(bytes);
  const { metadata } = file;
  if (metadata.format !== FORMAT) throw new ScratchGPTError('format', `scratchgpt: not a scratchgpt checkpoint (format '${metadata.format ?? 'none'}')`);
  if (metadata.config === undefined) throw damaged("its 'config' metadata is missing");
  const config = metaJson<GPTConfig>(metadata, 'config', '');
  if (config === null || typeof config !== 'object') throw damaged(`its config is not an object: ${metadata.config}`);
  try {
    validateConfig(config);
  } catch (err) {
    throw damaged(`its config is invalid (${(err as Error).message.replace(/^scratchgpt: /, '')})`);
  }
  if (model && JSON.stringify(model.config) !== JSON.stringify(config)) {
    throw new ScratchGPTError('format', `scratchgpt: checkpoint config ${metadata.config} does not match the model's ${JSON.stringify(model.config)}`);
  }
  const step = Number(metadata.step ?? 0);
  if (!Number.isInteger(step) || step < 0) throw damaged(`its step '${metadata.step}' is not a non-negative integer`);
  const optMeta = metaJson<Record<string, unknown> | null>(metadata, 'optimizer', 'null');
  const extra = metaJson<Record<string, unknown>>(metadata, 'extra', '{}');

  const target = model ?? new GPTModel(config);
  const uploaded = new Map<string, Tensor>();
  let optimizer: AdamW | null = null;
  try {
    // Validate everything against the target's parameters before changing anything.
    const params = target.namedParameters();
    const weights = new Map(params.map(([name, p]) => [name, savedTensor(file.tensors, `model/${name}`, p.shape)]));
    const strayWeight = [...file.tensors.keys()].find((n) => n.startsWith('model/') && !weights.has(n.slice('model/'.length)));
    if (strayWeight) throw damaged(`tensor '${strayWeight}' belongs to no parameter of the model`);
    const stray = [...file.tensors.keys()].find((n) => !n.startsWith('model/') && !n.startsWith('optimizer/'));
    if (stray) throw damaged(`unexpected tensor '${stray}'`);
    const plan = planOptimizer(file.tensors, optMeta, params);
    // Commit: the optimizer first (it only allocates), then the weights (a copy per tensor).
    optimizer = plan ? buildOptimizer(target, plan) : null;
    for (const [name, t] of weights) uploaded.set(name, upload(t));
    target.loadStateDict(uploaded);
    return { model: target, optimizer, config, step, extra };
  } catch (err) {
    optimizer?.dispose();
    if (!model) target.dispose();
    throw err;
  } finally {
    for (const t of uploaded.values()) t.dispose();
  }
}
