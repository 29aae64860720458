/**
 * A fine-tuned classifier as one safetensors file: the weights under the book's classifier names
 * (`tok_emb.weight`, `trf_blocks.N.…`, `final_norm.…`, `out_head.weight`, `out_head.bias`, so PyTorch's
 * `load_state_dict(safetensors.torch.load_file(path))` reads them) and, in the metadata, everything
 * needed to use it: the GPT config, the label names, the pooling, the padding id, the training length
 * (`maxLength`) and what was trainable. Writing is atomic (temp file + rename, via the gpt package's
 * `writeFileAtomic`) and refuses non-finite weights; loading validates the whole file before it builds
 * or changes any model.
 */
import { fromArray, ScratchGPTError, type Tensor } from '@scratchgpt/core';
import {
  GPTModel,
  parseSafetensors,
  readFileBytes,
  serializeSafetensors,
  validateConfig,
  writeFileAtomic,
  type DecodedTensor,
  type GPTConfig,
  type TensorToWrite,
} from '@scratchgpt/gpt';
import { GPTClassifier, type Trainable } from './classifier';
import { POOLINGS, type Pooling } from './pooling';

const FORMAT = 'scratchgpt-classifier-v1';

/** What the file stores beside the weights (and not in the model). */
export interface ClassifierFileInfo {
  /** Tokens per input row in training: `classify` pads to it (needed by `last` pooling). */
  maxLength: number;
  /** Anything JSON-serialisable (accuracies, the recipe, ...). */
  extra?: Record<string, unknown>;
}

/** A classifier read from a file, with its metadata. */
export interface LoadedClassifier {
  model: GPTClassifier;
  config: GPTConfig;
  labels: string[];
  pooling: Pooling;
  padId: number;
  maxLength: number;
  trainable: Trainable;
  extra: Record<string, unknown>;
}

function checkMaxLength(maxLength: number, config: GPTConfig, why: (msg: string) => Error): void {
  if (!Number.isInteger(maxLength) || maxLength < 1 || maxLength > config.contextLength) {
    throw why(`maxLength ${maxLength} is not an integer in [1, ${config.contextLength}] (the context length)`);
  }
}

/**
 * Serialises the classifier (reads every weight back once); throws, naming the tensor, when a weight
 * is not finite.
 */
export async function classifierBytes(model: GPTClassifier, info: ClassifierFileInfo): Promise<Uint8Array> {
  checkMaxLength(info.maxLength, model.config, (msg) => new ScratchGPTError('value', `scratchgpt: cannot save the classifier: ${msg}`));
  const tensors = new Map<string, TensorToWrite>();
  for (const [name, t] of model.namedParameters()) {
    const data = (await t.toArray()) as Float32Array;
    const bad = data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new ScratchGPTError('format', `scratchgpt: refusing to save the classifier: tensor '${name}' holds ${data[bad]} at index ${bad} (training diverged?); nothing was written`);
    tensors.set(name, { dtype: 'F32', shape: t.shape, data });
  }
  return serializeSafetensors(tensors, {
    format: FORMAT,
    config: JSON.stringify(model.config),
    labels: JSON.stringify(model.labels),
    pooling: model.pooling,
    padId: String(model.padId),
    maxLength: String(info.maxLength),
    trainable: JSON.stringify(model.trainable),
    extra: JSON.stringify(info.extra ?? {}),
  });
}

function damaged(why: string): Error {
  return new ScratchGPTError('format', `scratchgpt: damaged classifier file: ${why}`);
}

function json(metadata: Record<string, string>, key: string): unknown {
  const text = metadata[key];
  if (text === undefined) throw damaged(`its '${key}' metadata is missing`);
  try {
    return JSON.parse(text);
  } catch {
    throw damaged(`its '${key}' metadata is not valid JSON: ${text.length > 60 ? `${text.slice(0, 60)}...` : text}`);
  }
}

function integer(metadata: Record<string, string>, key: string): number {
  const v = Number(metadata[key]);
  if (metadata[key] === undefined || !Number.isInteger(v) || v < 0) throw damaged(`its '${key}' metadata is ${JSON.stringify(metadata[key])}, expected an integer ≥ 0`);
  return v;
}

/** Everything in the metadata, checked (no model is built). */
function readMetadata(metadata: Record<string, string>): Omit<LoadedClassifier, 'model'> {
  if (metadata.format !== FORMAT) throw new ScratchGPTError('format', `scratchgpt: not a scratchgpt classifier file (format '${metadata.format ?? 'none'}', expected '${FORMAT}')`);
  const config = json(metadata, 'config') as GPTConfig;
  if (config === null || typeof config !== 'object') throw damaged(`its config is not an object`);
  try {
    validateConfig(config);
  } catch (err) {
    throw damaged(`its config is invalid (${(err as Error).message.replace(/^scratchgpt: /, '')})`);
  }
  const labels = json(metadata, 'labels');
  if (!Array.isArray(labels) || labels.length < 2 || !labels.every((l) => typeof l === 'string') || new Set(labels).size !== labels.length) {
    throw damaged(`its labels ${JSON.stringify(labels)} are not ≥ 2 distinct strings`);
  }
  const pooling = metadata.pooling as Pooling;
  if (!POOLINGS.includes(pooling)) throw damaged(`its pooling '${pooling}' is not one of ${POOLINGS.join(', ')}`);
  const padId = integer(metadata, 'padId');
  if (padId >= config.vocabSize) throw damaged(`its padId ${padId} is outside the vocabulary [0, ${config.vocabSize})`);
  const maxLength = integer(metadata, 'maxLength');
  checkMaxLength(maxLength, config, damaged);
  const trainable = json(metadata, 'trainable') as Trainable;
  const extra = metadata.extra === undefined ? {} : (json(metadata, 'extra') as Record<string, unknown>);
  return { config, labels: labels as string[], pooling, padId, maxLength, trainable, extra };
}

/** The weights of `model` from the file, each checked against the parameter's shape; nothing copied. */
function planWeights(tensors: Map<string, DecodedTensor>, model: GPTClassifier): Map<string, DecodedTensor> {
  const params = model.namedParameters();
  const plan = new Map<string, DecodedTensor>();
  for (const [name, p] of params) {
    const t = tensors.get(name);
    if (!t) throw damaged(`tensor '${name}' is missing`);
    if (t.shape.join() !== p.shape.join()) throw damaged(`tensor '${name}' has shape [${t.shape.join(', ')}], expected [${p.shape.join(', ')}]`);
    if (!(t.data instanceof Float32Array)) throw damaged(`tensor '${name}' is ${t.dtype}, expected a floating type`);
    plan.set(name, t);
  }
  const stray = [...tensors.keys()].find((n) => !plan.has(n));
  if (stray) throw damaged(`tensor '${stray}' belongs to no parameter of the classifier`);
  return plan;
}

/** Copies the planned weights into `model` (all shapes already checked). */
function commitWeights(model: GPTClassifier, plan: Map<string, DecodedTensor>): void {
  const uploaded = new Map<string, Tensor>();
  try {
    for (const [name, t] of plan) uploaded.set(name, fromArray(t.data, t.shape));
    model.loadStateDict(uploaded);
  } finally {
    for (const t of uploaded.values()) t.dispose();
  }
}

/**
 * Restores a classifier from bytes: into `model` if given (its config, labels, pooling and padId must
 * match the file's), else into a new `GPTClassifier` built from the saved config. All or nothing: the
 * file is validated completely first; on any error the given model is unchanged and nothing built here
 * stays allocated.
 */
export function restoreClassifier(bytes: Uint8Array, model?: GPTClassifier): LoadedClassifier {
  const file = parseSafetensors(bytes);
  if (file.metadata.format !== FORMAT) {
    // Say what the file is when it is one of the library's others (or GPT-2 weights).
    if (file.metadata.format === 'scratchgpt-checkpoint-v1') throw new ScratchGPTError('format', 'scratchgpt: not a classifier: a training checkpoint (saveCheckpoint, `scratchgpt pretrain --out`); read it with loadCheckpoint()');
    // Hugging Face writes a framework name as the format ('pt'); the book's state dicts have none.
    const framework = file.metadata.format === undefined || ['pt', 'tf', 'flax', 'np', 'mlx'].includes(file.metadata.format);
    if (framework && (file.tensors.has('wte.weight') || file.tensors.has('transformer.wte.weight') || file.tensors.has('tok_emb.weight'))) {
      throw new ScratchGPTError('format', 'scratchgpt: not a classifier: GPT-2 weights (a language model); fine-tune a classifier from them (`scratchgpt finetune classify --weights FILE`, GPTClassifier.fromGPT)');
    }
  }
  const meta = readMetadata(file.metadata);
  if (model) {
    const mismatch = (
      [
        ['config', JSON.stringify(model.config), JSON.stringify(meta.config)],
        ['labels', JSON.stringify(model.labels), JSON.stringify(meta.labels)],
        ['pooling', model.pooling, meta.pooling],
        ['padId', String(model.padId), String(meta.padId)],
      ] as const
    ).find(([, have, saved]) => have !== saved);
    if (mismatch) throw new ScratchGPTError('value', `scratchgpt: the classifier file's ${mismatch[0]} ${mismatch[2]} does not match the model's ${mismatch[1]}`);
    commitWeights(model, planWeights(file.tensors, model));
    return { model, ...meta };
  }
  const gpt = new GPTModel(meta.config);
  let built: GPTClassifier | null = null;
  try {
    built = GPTClassifier.fromGPT(gpt, { numClasses: meta.labels.length, labels: meta.labels, pooling: meta.pooling, padId: meta.padId, trainable: meta.trainable });
    commitWeights(built, planWeights(file.tensors, built));
    return { model: built, ...meta };
  } catch (err) {
    if (built) built.dispose();
    else gpt.dispose();
    throw err;
  }
}

/**
 * Writes the classifier to `path` atomically (Node: a file; browsers: the origin-private file system);
 * a crash mid-write keeps the previous file, and non-finite weights are refused before anything is written.
 * @example
 * ```ts
 * await saveClassifier('spam-classifier.safetensors', model, { maxLength: trainSet.maxLength });
 * const { model: again, maxLength } = await loadClassifier('spam-classifier.safetensors');
 * (await classify(again, 'You are a winner ...', { maxLength })).label; // 'spam'
 * ```
 */
export async function saveClassifier(path: string, model: GPTClassifier, info: ClassifierFileInfo): Promise<void> {
  await writeFileAtomic(path, () => classifierBytes(model, info));
}

/** Reads a classifier file and restores it, all or nothing (see {@link restoreClassifier}). */
export async function loadClassifier(path: string, model?: GPTClassifier): Promise<LoadedClassifier> {
  const bytes = await readFileBytes(path);
  try {
    return restoreClassifier(bytes, model);
  } catch (err) {
    // The same error, naming the file.
    if (err instanceof ScratchGPTError) throw new ScratchGPTError(err.code, `scratchgpt: ${path}: ${err.message.replace(/^scratchgpt: /, '')}`, { cause: err });
    throw err;
  }
}
