/**
 * Loading GPT-2 weights into a GPTModel, from two layouts:
 *
 * - Hugging Face GPT-2 (`openai-community/gpt2` and friends, fine-tunes saved by `transformers`):
 *   `wte`, `wpe`, `h.{i}.ln_1`, `h.{i}.attn.c_attn` (q|k|v fused), `h.{i}.attn.c_proj`, `h.{i}.ln_2`,
 *   `h.{i}.mlp.c_fc`, `h.{i}.mlp.c_proj`, `ln_f`, optionally under `transformer.`, and `lm_head.weight`
 *   when the head is not tied to `wte`. Conv1D weights are stored `[in, out]` and transposed to our
 *   Linear's `[out, in]`.
 * - The book's PyTorch `GPTModel.state_dict()`: `tok_emb.weight`, `trf_blocks.{i}.att.W_query.weight`,
 *   `...norm1.scale`/`shift`, `out_head.weight` (`att.mask` buffers are ignored).
 *
 * The architecture is never guessed: the head count comes from `nHeads`, from a `config.json` (Hugging
 * Face `GPT2Config` or the book's config dict), or — only for a file of exactly one of the four
 * official GPT-2 shapes — from OpenAI's published sizes. Everything else is read off the tensors:
 * q/k/v biases when present, an untied head when `lm_head.weight` / `out_head.weight` is present (and,
 * for `lm_head`, differs from `wte`). A tensor under the model's names that fits nowhere (say
 * `h.0.attn.lora_A`) is an error naming it; tensors outside them (`grad.*`, `input_ids`, optimizer
 * state saved in the same file) are ignored.
 *
 * The parts: the config and the architecture it implies (`gpt2-config.ts`), the file's tensors checked
 * by name and shape (`gpt2-tensors.ts`), the mapping of each layout to our names (`gpt2-layouts.ts`);
 * here, the entry points and where the bytes and the config come from.
 */
import { fromArray, type Tensor } from '@scratchgpt/core';
import type { GPTConfig } from './config';
import { parseJsonFrom } from './download';
import type { CacheOptions, PlatformIO } from './files';
import { readDeclared, type BookGPTConfig, type GPT2WeightsOptions, type HFGPT2Config } from './gpt2-config';
import { convertBook, convertHF, type Weight } from './gpt2-layouts';
import { TensorTable, weightsError as fail } from './gpt2-tensors';
import { GPTModel } from './model';
import { parseSafetensors, type DecodedTensor, type SafetensorsFile } from './safetensors';

export type { BookGPTConfig, GPT2WeightsOptions, HFGPT2Config } from './gpt2-config';
export type { Weight } from './gpt2-layouts';

/** Hub URL of a GPT-2 size's safetensors file (its `config.json` lies beside it). */
export function gpt2WeightsUrl(size: 'gpt2' | 'gpt2-medium' | 'gpt2-large' | 'gpt2-xl' = 'gpt2'): string {
  return `https://huggingface.co/openai-community/${size}/resolve/main/model.safetensors`;
}

/**
 * Converts a GPT-2 tensor map (Hugging Face or book layout, see the module comment) into our
 * parameter names and layouts, with the configuration it implies. `config` is a parsed `config.json`
 * (Hugging Face `GPT2Config` or the book's dict). Throws, naming the tensor, when one is missing, has
 * the wrong shape or fits nowhere, and when the head count cannot be known.
 */
export function convertGPT2Weights(
  tensors: Map<string, DecodedTensor>,
  options: GPT2WeightsOptions & { config?: HFGPT2Config | BookGPTConfig } = {},
): { config: GPTConfig; weights: Map<string, Weight> } {
  const declared = readDeclared(options.config);
  const table = new TensorTable(tensors);
  if (table.has('wte.weight') || table.has('transformer.wte.weight')) return convertHF(table, declared, options);
  if (table.has('tok_emb.weight')) return convertBook(table, declared, options);
  const some = table.names().slice(0, 5).map((n) => `'${n}'`).join(', ');
  throw fail(`found neither 'wte.weight' (Hugging Face GPT-2) nor 'tok_emb.weight' (the book's GPTModel); the file has ${some || 'no tensors'}${table.names().length > 5 ? ', ...' : ''}`);
}

/** The book's PyTorch state-dict names → ours (LayerNorm `scale`/`shift` → `weight`/`bias`). */
export function fromBookNames(name: string): string {
  return name.replace(/(norm1|norm2|final_norm)\.scale$/, '$1.weight').replace(/(norm1|norm2|final_norm)\.shift$/, '$1.bias');
}

/** Uploads converted weights into a model (strict: every parameter must be provided). */
export function loadWeightsInto(model: GPTModel, weights: Map<string, Weight>): void {
  const tensors = new Map<string, Tensor>();
  try {
    for (const [name, w] of weights) tensors.set(name, fromArray(w.data, w.shape));
    model.loadStateDict(tensors);
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

/** Where GPT-2 weights come from: a file path (Node; OPFS in browsers), raw bytes, or an http(s) URL. */
export type WeightsSource = string | Uint8Array | URL;

/** Options of {@link loadGPT2}. */
export interface LoadGPT2Options extends GPT2WeightsOptions, CacheOptions {
  /**
   * The model's `config.json` (Hugging Face `GPT2Config` or the book's config dict): an object, a
   * file path or an http(s) URL. By default a `config.json` beside the weights (same directory or
   * URL folder) is read when there is one.
   */
  config?: HFGPT2Config | BookGPTConfig | string | URL;
}

function isHttpUrl(text: string): boolean {
  return /^https?:\/\//i.test(text);
}

async function sourceBytes(io: PlatformIO, source: WeightsSource, options: CacheOptions): Promise<Uint8Array> {
  if (source instanceof Uint8Array) return source;
  const text = source.toString();
  return isHttpUrl(text) ? io.fetchCached(text, options) : io.readFile(text);
}

/** The config that applies: the option, else a `config.json` beside a file or URL source. */
async function sourceConfig(io: PlatformIO, source: WeightsSource, options: LoadGPT2Options): Promise<HFGPT2Config | BookGPTConfig | undefined> {
  const given = options.config;
  if (given !== undefined && typeof given === 'object' && !(given instanceof URL)) return given;
  if (given !== undefined) {
    const where = given.toString();
    const text = isHttpUrl(where) ? await io.fetchCachedJsonText(where, options) : await io.readTextIfExists(where);
    if (text === null) throw fail(`the config '${where}' does not exist`);
    return parseJsonFrom(`the config '${where}'`, text);
  }
  if (source instanceof Uint8Array) return undefined;
  const where = source.toString();
  if (isHttpUrl(where)) {
    const url = new URL('config.json', where).toString();
    const text = await io.fetchCachedJsonText(url, options);
    return text === null ? undefined : parseJsonFrom(`the config '${url}'`, text);
  }
  const path = io.sibling(where, 'config.json');
  const text = await io.readTextIfExists(path);
  return text === null ? undefined : parseJsonFrom(`the config '${path}'`, text);
}

/**
 * Refuses the library's other safetensors files — a fine-tuned classifier, a training checkpoint, LoRA
 * adapters — saying what the file is and what reads it, instead of failing later on a missing config
 * or head count.
 */
function refuseOtherFiles(file: SafetensorsFile, where: string): void {
  const format = file.metadata.format;
  if (format === 'scratchgpt-classifier-v1') {
    let labels = file.metadata.labels ?? '?';
    try {
      labels = (JSON.parse(labels) as string[]).join(', ');
    } catch {
      // shown as stored
    }
    throw fail(
      `${where} is a text classifier saved by scratchgpt (labels [${labels}], pooling ${file.metadata.pooling ?? '?'}), not GPT-2 weights: ` +
        "read it with loadClassifier() from @scratchgpt/finetune; GPT-2 weights are a Hugging Face model.safetensors or a state dict of the book's GPTModel",
    );
  }
  if (format === 'scratchgpt-checkpoint-v1') {
    throw fail(`${where} is a training checkpoint saved by scratchgpt (saveCheckpoint, \`scratchgpt pretrain --out\`), not GPT-2 weights: read it with loadCheckpoint() (its model is inside), or write GPT-2 weights from that model with saveGPT2()`);
  }
  const names = [...file.tensors.keys()];
  if (names.some((n) => /lora_[AB]\b|\.lora\.(A|B)$/.test(n)) && !names.some((n) => /(^|\.)(wte|tok_emb)\.weight$/.test(n))) {
    throw fail(`${where} holds LoRA adapters only (tensors such as '${names.find((n) => /lora/.test(n))}'), not a model: load the base model's GPT-2 weights, then the adapters (loadLoRAAdapters)`);
  }
}

/** @internal {@link loadGPT2} over a platform's files and cache. */
export async function loadGPT2With(io: PlatformIO, source: WeightsSource, options: LoadGPT2Options = {}): Promise<GPTModel> {
  const bytes = await sourceBytes(io, source, options);
  const file = parseSafetensors(bytes);
  refuseOtherFiles(file, source instanceof Uint8Array ? 'the file' : `'${source.toString()}'`);
  const config = await sourceConfig(io, source, options);
  const { config: modelConfig, weights } = convertGPT2Weights(file.tensors, { ...options, config });
  const model = new GPTModel(modelConfig);
  try {
    loadWeightsInto(model, weights);
  } catch (err) {
    model.dispose();
    throw err;
  }
  return model;
}
