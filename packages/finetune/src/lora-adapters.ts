/**
 * Saving and loading just the LoRA adapters as safetensors, with PEFT-like names. For the layer at
 * module path `<path>` (ours, i.e. the book's: `trf_blocks.0.att.W_query`, `out_head`):
 *
 * | file key                                   | shape         | ours                |
 * |--------------------------------------------|---------------|---------------------|
 * | `base_model.model.<path>.lora_A.weight`    | `[rank, in]`  | `<path>.lora.A`ᵀ    |
 * | `base_model.model.<path>.lora_B.weight`    | `[out, rank]` | `<path>.lora.B`ᵀ    |
 *
 * PEFT stores A and B as `nn.Linear` weights (`[out, in]` of each thin layer), hence the transposes
 * of the book's `x @ A @ B` layout. The metadata holds `r`, `lora_alpha` and `target_modules` (as PEFT's
 * `adapter_config.json` would). The paths are this library's module paths, not Hugging Face GPT-2's
 * (`transformer.h.0.attn.c_attn`, which fuses q, k and v), so PEFT cannot apply these files to a
 * Hugging Face model without renaming.
 */
import { type AnyModule, fromArray, Linear, ScratchGPTError } from '@scratchgpt/core';
import { parseSafetensors, serializeSafetensors, type TensorToWrite } from '@scratchgpt/gpt';
import { applyLoRA, LoRALinear, loraLayers } from './lora';

const PREFIX = 'base_model.model.';

/** `[rows, cols]` row-major → its transpose `[cols, rows]`. */
function transpose(data: ArrayLike<number>, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}

/** The distinct LoRA layers by path (a layer reached twice is saved under its first path). */
function uniqueLayers(model: AnyModule): Map<string, LoRALinear> {
  const seen = new Set<LoRALinear>();
  const out = new Map<string, LoRALinear>();
  for (const [path, layer] of loraLayers(model)) {
    if (seen.has(layer)) continue;
    seen.add(layer);
    out.set(path, layer);
  }
  return out;
}

/**
 * The model's LoRA adapters as safetensors bytes (A and B only: 10.7 MB for the book's 124M spam
 * classifier at rank 16). Write them with any file API (`writeFileSync`, the CLI's atomic writer, a
 * browser download). Throws if the model has no LoRA layers or if they do not share one alpha.
 */
export async function loraAdapterBytes(model: AnyModule): Promise<Uint8Array> {
  const layers = uniqueLayers(model);
  if (layers.size === 0) throw new ScratchGPTError('value', 'scratchgpt: the model has no LoRA layers to save (applyLoRA first)');
  const alphas = new Set([...layers.values()].map((l) => l.lora.alpha));
  if (alphas.size > 1) throw new ScratchGPTError('shape', `scratchgpt: LoRA layers with different alphas (${[...alphas].join(', ')}) cannot be saved in one adapter file`);
  const tensors = new Map<string, TensorToWrite>();
  for (const [path, layer] of layers) {
    const { A, B, rank, inFeatures, outFeatures } = layer.lora;
    tensors.set(`${PREFIX}${path}.lora_A.weight`, { dtype: 'F32', shape: [rank, inFeatures], data: transpose(await A.toArray(), inFeatures, rank) });
    tensors.set(`${PREFIX}${path}.lora_B.weight`, { dtype: 'F32', shape: [outFeatures, rank], data: transpose(await B.toArray(), rank, outFeatures) });
  }
  const ranks = new Set([...layers.values()].map((l) => l.lora.rank));
  return serializeSafetensors(tensors, {
    format: 'pt',
    r: String(Math.max(...ranks)),
    lora_alpha: String([...alphas][0]),
    target_modules: JSON.stringify([...layers.keys()]),
  });
}

/** Options of {@link loadLoRAAdapters}. */
export interface LoadLoRAOptions {
  /** Throw when the model has LoRA layers the file lacks (default true). Unknown file keys always throw. */
  strict?: boolean;
}

/** One layer's matrices as stored (`lora_A.weight` `[rank, in]`, `lora_B.weight` `[out, rank]`). */
interface StoredAdapter {
  A: { shape: number[]; data: ArrayLike<number> };
  B: { shape: number[]; data: ArrayLike<number> };
}

/** The adapters of a file by module path, with its alpha; file-level problems are collected. */
function readAdapters(bytes: Uint8Array, problems: string[]): { adapters: Map<string, StoredAdapter>; alpha: number | undefined } {
  const file = parseSafetensors(bytes);
  const parts = new Map<string, Partial<StoredAdapter>>();
  const unknown: string[] = [];
  for (const [key, t] of file.tensors) {
    const m = /^base_model\.model\.(.+)\.lora_([AB])\.weight$/.exec(key);
    if (!m) {
      unknown.push(key);
      continue;
    }
    const entry = parts.get(m[1]) ?? {};
    entry[m[2] as 'A' | 'B'] = { shape: t.shape, data: t.data };
    parts.set(m[1], entry);
  }
  if (unknown.length > 0) throw new ScratchGPTError('format', `scratchgpt: not LoRA adapter keys: ${unknown.join(', ')}`);
  if (parts.size === 0) throw new ScratchGPTError('format', 'scratchgpt: the file holds no LoRA adapters');
  const alphaText = file.metadata.lora_alpha;
  const alpha = alphaText === undefined ? undefined : Number(alphaText);
  if (alpha !== undefined && !Number.isFinite(alpha)) throw new ScratchGPTError('format', `scratchgpt: LoRA adapter metadata lora_alpha '${alphaText}' is not a number`);
  const adapters = new Map<string, StoredAdapter>();
  for (const [path, { A, B }] of parts) {
    if (!A || !B) problems.push(`${path}: lora_${A ? 'B' : 'A'}.weight is missing`);
    else if (A.shape.length !== 2 || B.shape.length !== 2 || A.shape[0] !== B.shape[1]) {
      problems.push(`${path}: lora_A [${A.shape.join(', ')}] and lora_B [${B.shape.join(', ')}] are not [rank, in] and [out, rank]`);
    } else adapters.set(path, { A, B });
  }
  return { adapters, alpha };
}

/**
 * Loads adapters saved by {@link loraAdapterBytes} into `model` (the values are copied on the GPU). A
 * model without LoRA layers gets them first: exactly the file's paths are wrapped with
 * {@link applyLoRA} (rank from the shapes, alpha from the metadata; the model is frozen). A model that
 * has them must match the file's paths, ranks and alpha. Everything is checked before anything
 * changes. Returns the loaded paths, in module order.
 * @example
 * ```ts
 * const model = await loadGPT2(gpt2WeightsUrl('gpt2-medium'));
 * loadLoRAAdapters(model, readFileSync('adapters.safetensors'));
 * mergeLoRA(model); // optional: fold into the weights for faster inference
 * ```
 */
export function loadLoRAAdapters(model: AnyModule, bytes: Uint8Array, { strict = true }: LoadLoRAOptions = {}): string[] {
  const problems: string[] = [];
  const { adapters, alpha } = readAdapters(bytes, problems);
  let layers = uniqueLayers(model);
  const fresh = layers.size === 0;
  if (fresh) {
    if (alpha === undefined) problems.push('the metadata has no lora_alpha (needed to add LoRA layers)');
    const ranks = new Set([...adapters.values()].map(({ A }) => A.shape[0]));
    if (ranks.size > 1) problems.push(`different ranks per layer (${[...ranks].join(', ')}) are not supported when adding LoRA layers`);
  } else {
    const missing = [...layers.keys()].filter((p) => !adapters.has(p));
    const unexpected = [...adapters.keys()].filter((p) => !layers.has(p));
    if (strict && missing.length > 0) problems.push(`the model's LoRA layers missing from the file: ${missing.join(', ')}`);
    if (unexpected.length > 0) problems.push(`adapters for layers the model lacks: ${unexpected.join(', ')}`);
    for (const [path, layer] of layers) {
      if (!adapters.has(path)) continue;
      if (alpha !== undefined && layer.lora.alpha !== alpha) problems.push(`${path}: alpha ${layer.lora.alpha} in the model, ${alpha} in the file`);
      if (layer.merged) problems.push(`${path}: the LoRA update is merged (unmergeLoRA first)`);
    }
  }
  // Shapes against the layers (found without changing the model).
  const linears = new Map<string, Linear | LoRALinear>();
  for (const [path, module] of model.namedModules()) if (module instanceof Linear || module instanceof LoRALinear) linears.set(path, module);
  for (const [path, { A, B }] of adapters) {
    const layer = linears.get(path);
    if (!layer) {
      if (fresh) problems.push(`${path}: the model has no Linear layer there`);
      continue;
    }
    if (A.shape[1] !== layer.inFeatures || B.shape[0] !== layer.outFeatures) {
      problems.push(`${path}: adapters for [${A.shape[1]} → ${B.shape[0]}] do not fit a layer [${layer.inFeatures} → ${layer.outFeatures}]`);
    }
    if (layer instanceof LoRALinear && layer.lora.rank !== A.shape[0]) problems.push(`${path}: rank ${layer.lora.rank} in the model, ${A.shape[0]} in the file`);
  }
  if (problems.length > 0) throw new ScratchGPTError('shape', `scratchgpt: cannot load LoRA adapters:\n  ${problems.join('\n  ')}`);

  if (fresh) {
    const [first] = adapters.values();
    applyLoRA(model, { rank: first.A.shape[0], alpha: alpha!, targets: (path) => adapters.has(path) });
    layers = uniqueLayers(model);
  }
  for (const [path, { A, B }] of adapters) {
    const { lora } = layers.get(path)!;
    const a = fromArray(transpose(A.data, lora.rank, lora.inFeatures), [lora.inFeatures, lora.rank]);
    const b = fromArray(transpose(B.data, lora.outFeatures, lora.rank), [lora.rank, lora.outFeatures]);
    try {
      lora.loadStateDict({ A: a, B: b });
    } finally {
      a.dispose();
      b.dispose();
    }
  }
  return [...layers.keys()].filter((path) => adapters.has(path));
}
