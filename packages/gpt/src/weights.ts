/**
 * OpenAI GPT-2 weights in the Hugging Face safetensors layout (`openai-community/gpt2` and friends):
 * `wte`, `wpe`, `h.{i}.ln_1`, `h.{i}.attn.c_attn` (q|k|v fused), `h.{i}.attn.c_proj`, `h.{i}.ln_2`,
 * `h.{i}.mlp.c_fc`, `h.{i}.mlp.c_proj`, `ln_f`, optionally under `transformer.`. Conv1D weights are
 * stored `[in, out]` and transposed to our Linear's `[out, in]`; the output head is tied to `wte`.
 * Also loads the book's own PyTorch state dict names (`tok_emb.weight`, `...norm1.scale`, ...).
 */
import { fromArray, type Tensor } from '@scratchgpt/core';
import { gptConfig, type GPTConfig } from './config';
import { isNode, readFileBytes, writeFileAtomic } from './files';
import { GPTModel } from './model';
import { parseSafetensors, type DecodedTensor } from './safetensors';

/** Hub URL of a GPT-2 size's safetensors file. */
export function gpt2WeightsUrl(size: 'gpt2' | 'gpt2-medium' | 'gpt2-large' | 'gpt2-xl' = 'gpt2'): string {
  return `https://huggingface.co/openai-community/${size}/resolve/main/model.safetensors`;
}

const HEADS_BY_WIDTH: Record<number, number> = { 768: 12, 1024: 16, 1280: 20, 1600: 25 };

function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}

/** Columns [from, to) of a row-major [rows, cols] matrix. */
function columns(data: Float32Array, rows: number, cols: number, from: number, to: number): Float32Array {
  const out = new Float32Array(rows * (to - from));
  for (let r = 0; r < rows; r++) out.set(data.subarray(r * cols + from, r * cols + to), r * (to - from));
  return out;
}

interface Weight {
  data: Float32Array;
  shape: number[];
}

/**
 * Converts a Hugging Face GPT-2 tensor map into our parameter names and layouts. Throws, naming the
 * tensor, when one is missing or has the wrong shape.
 */
export function convertGPT2Weights(tensors: Map<string, DecodedTensor>, options: { nHeads?: number; dropRate?: number } = {}): { config: GPTConfig; weights: Map<string, Weight> } {
  const prefix = tensors.has('transformer.wte.weight') ? 'transformer.' : '';
  const get = (name: string, shape: number[]): Float32Array => {
    const t = tensors.get(prefix + name);
    if (!t) throw new Error(`scratchgpt: GPT-2 weights: tensor '${prefix + name}' is missing`);
    if (t.shape.join() !== shape.join()) throw new Error(`scratchgpt: GPT-2 weights: tensor '${prefix + name}' has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
    if (!(t.data instanceof Float32Array)) throw new Error(`scratchgpt: GPT-2 weights: tensor '${prefix + name}' is ${t.dtype}, expected a floating-point type`);
    return t.data;
  };
  const wte = tensors.get(`${prefix}wte.weight`);
  const wpe = tensors.get(`${prefix}wpe.weight`);
  if (!wte || !wpe) throw new Error(`scratchgpt: GPT-2 weights: tensors '${prefix}wte.weight' and '${prefix}wpe.weight' are required (is this a GPT-2 checkpoint?)`);
  const [V, C] = wte.shape;
  const contextLength = wpe.shape[0];
  let nLayers = 0;
  for (const name of tensors.keys()) {
    const m = /^(?:transformer\.)?h\.(\d+)\./.exec(name);
    if (m) nLayers = Math.max(nLayers, Number(m[1]) + 1);
  }
  const nHeads = options.nHeads ?? HEADS_BY_WIDTH[C];
  if (!nHeads) throw new Error(`scratchgpt: GPT-2 weights: cannot infer the number of heads for width ${C}; pass nHeads`);
  const config = gptConfig({ vocabSize: V, contextLength, embDim: C, nHeads, nLayers, dropRate: options.dropRate ?? 0, qkvBias: true, tieWeights: true });
  const weights = new Map<string, Weight>();
  const put = (name: string, data: Float32Array, shape: number[]) => weights.set(name, { data, shape });
  put('tok_emb.weight', get('wte.weight', [V, C]), [V, C]);
  put('pos_emb.weight', get('wpe.weight', [contextLength, C]), [contextLength, C]);
  for (let i = 0; i < nLayers; i++) {
    const h = `h.${i}.`;
    const ours = `trf_blocks.${i}.`;
    put(`${ours}norm1.weight`, get(`${h}ln_1.weight`, [C]), [C]);
    put(`${ours}norm1.bias`, get(`${h}ln_1.bias`, [C]), [C]);
    const qkvW = get(`${h}attn.c_attn.weight`, [C, 3 * C]);
    const qkvB = get(`${h}attn.c_attn.bias`, [3 * C]);
    (['W_query', 'W_key', 'W_value'] as const).forEach((proj, k) => {
      put(`${ours}att.${proj}.weight`, transpose(columns(qkvW, C, 3 * C, k * C, (k + 1) * C), C, C), [C, C]);
      put(`${ours}att.${proj}.bias`, qkvB.slice(k * C, (k + 1) * C), [C]);
    });
    put(`${ours}att.out_proj.weight`, transpose(get(`${h}attn.c_proj.weight`, [C, C]), C, C), [C, C]);
    put(`${ours}att.out_proj.bias`, get(`${h}attn.c_proj.bias`, [C]), [C]);
    put(`${ours}norm2.weight`, get(`${h}ln_2.weight`, [C]), [C]);
    put(`${ours}norm2.bias`, get(`${h}ln_2.bias`, [C]), [C]);
    put(`${ours}ff.layers.0.weight`, transpose(get(`${h}mlp.c_fc.weight`, [C, 4 * C]), C, 4 * C), [4 * C, C]);
    put(`${ours}ff.layers.0.bias`, get(`${h}mlp.c_fc.bias`, [4 * C]), [4 * C]);
    put(`${ours}ff.layers.2.weight`, transpose(get(`${h}mlp.c_proj.weight`, [4 * C, C]), 4 * C, C), [C, 4 * C]);
    put(`${ours}ff.layers.2.bias`, get(`${h}mlp.c_proj.bias`, [C]), [C]);
  }
  put('final_norm.weight', get('ln_f.weight', [C]), [C]);
  put('final_norm.bias', get('ln_f.bias', [C]), [C]);
  return { config, weights };
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

/** Where GPT-2 weights come from: a file path (Node), raw bytes, or an http(s) URL. */
export type WeightsSource = string | Uint8Array | URL;

/** Fetches a URL, caching the bytes on disk in Node (`~/.cache/scratchgpt`) or in the Cache API in browsers. */
export async function fetchCached(url: string, { cacheDir, fetchFn = fetch }: { cacheDir?: string; fetchFn?: typeof fetch } = {}): Promise<Uint8Array> {
  if (isNode()) {
    const { createHash } = await import('node:crypto');
    const { homedir } = await import('node:os');
    const { join } = await import('node:path');
    const { mkdir, access } = await import('node:fs/promises');
    const dir = cacheDir ?? join(homedir(), '.cache', 'scratchgpt');
    const file = join(dir, `${createHash('sha256').update(url).digest('hex').slice(0, 32)}.safetensors`);
    try {
      await access(file);
      return await readFileBytes(file);
    } catch {
      // not cached yet
    }
    const response = await fetchFn(url);
    if (!response.ok) throw new Error(`scratchgpt: downloading ${url} failed: HTTP ${response.status}`);
    const bytes = new Uint8Array(await response.arrayBuffer());
    await mkdir(dir, { recursive: true });
    await writeFileAtomic(file, bytes);
    return bytes;
  }
  const caches = (globalThis as { caches?: CacheStorage }).caches;
  const cache = caches ? await caches.open('scratchgpt-weights') : null;
  const hit = await cache?.match(url);
  if (hit) return new Uint8Array(await hit.arrayBuffer());
  const response = await fetchFn(url);
  if (!response.ok) throw new Error(`scratchgpt: downloading ${url} failed: HTTP ${response.status}`);
  if (cache) await cache.put(url, response.clone());
  return new Uint8Array(await response.arrayBuffer());
}

async function sourceBytes(source: WeightsSource, cacheDir?: string): Promise<Uint8Array> {
  if (source instanceof Uint8Array) return source;
  const text = source.toString();
  if (/^https?:\/\//.test(text)) return fetchCached(text, { cacheDir });
  if (!isNode()) throw new Error(`scratchgpt: cannot read file '${text}' outside Node; pass bytes or a URL`);
  return readFileBytes(text);
}

export interface LoadGPT2Options {
  nHeads?: number;
  dropRate?: number;
  /** Node: where downloads are cached. */
  cacheDir?: string;
}

/**
 * Builds a GPTModel with OpenAI's GPT-2 weights from a Hugging Face safetensors file (path, bytes or URL).
 * @example
 * ```ts
 * const model = await loadGPT2(gpt2WeightsUrl('gpt2')); // 124M, cached after the first download
 * ```
 */
export async function loadGPT2(source: WeightsSource, options: LoadGPT2Options = {}): Promise<GPTModel> {
  const file = parseSafetensors(await sourceBytes(source, options.cacheDir));
  const { config, weights } = convertGPT2Weights(file.tensors, options);
  const model = new GPTModel(config);
  try {
    loadWeightsInto(model, weights);
  } catch (err) {
    model.dispose();
    throw err;
  }
  return model;
}
