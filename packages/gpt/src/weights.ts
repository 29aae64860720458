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
 */
import { fromArray, type Tensor } from '@scratchgpt/core';
import { gptConfig, type GPTConfig } from './config';
import { parseJsonFrom } from './download';
import type { CacheOptions, PlatformIO } from './files';
import { GPTModel } from './model';
import { parseSafetensors, type DecodedTensor } from './safetensors';

/** Hub URL of a GPT-2 size's safetensors file (its `config.json` lies beside it). */
export function gpt2WeightsUrl(size: 'gpt2' | 'gpt2-medium' | 'gpt2-large' | 'gpt2-xl' = 'gpt2'): string {
  return `https://huggingface.co/openai-community/${size}/resolve/main/model.safetensors`;
}

/** The fields of Hugging Face's `GPT2Config` (a `config.json`) that matter here. */
export interface HFGPT2Config {
  model_type?: string;
  vocab_size?: number;
  n_positions?: number;
  n_ctx?: number;
  n_embd?: number;
  n_layer?: number;
  n_head?: number;
  n_inner?: number | null;
  layer_norm_epsilon?: number;
  activation_function?: string;
  tie_word_embeddings?: boolean;
  scale_attn_weights?: boolean;
  scale_attn_by_inverse_layer_idx?: boolean;
  /** Not a GPT2Config field: written by {@link exportGPT2} for a model without q/k/v biases (see there). */
  qkv_bias?: boolean;
  [key: string]: unknown;
}

/** The book's configuration dict (`GPT_CONFIG_124M`), as saved beside the book's state dicts. */
export interface BookGPTConfig {
  vocab_size: number;
  context_length: number;
  emb_dim: number;
  n_heads: number;
  n_layers: number;
  drop_rate?: number;
  qkv_bias?: boolean;
}

/** What a configuration file declares, normalised; undefined where it says nothing. */
interface Declared {
  vocabSize?: number;
  contextLength?: number;
  embDim?: number;
  nHeads?: number;
  nLayers?: number;
  qkvBias?: boolean;
  tied?: boolean;
}

/** Heads of OpenAI's four GPT-2 sizes, keyed by `width/layers` (vocabulary 50257, context 1024). */
const OFFICIAL_HEADS: Record<string, number> = { '768/12': 12, '1024/24': 16, '1280/36': 20, '1600/48': 25 };

function fail(why: string): Error {
  return new Error(`scratchgpt: GPT-2 weights: ${why}`);
}

/** Reads a config object (Hugging Face or book keys), refusing settings our model cannot reproduce. */
function readDeclared(config: HFGPT2Config | BookGPTConfig | undefined): Declared {
  if (!config) return {};
  if (typeof config !== 'object' || Array.isArray(config)) throw fail(`the config must be a JSON object, got ${JSON.stringify(config)}`);
  const c = config as Record<string, unknown>;
  const int = (key: string): number | undefined => {
    const v = c[key];
    if (v === undefined || v === null) return undefined;
    if (!Number.isInteger(v) || (v as number) < 1) throw fail(`config.${key} must be a positive integer, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const bool = (key: string): boolean | undefined => {
    const v = c[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') throw fail(`config.${key} must be true or false, got ${JSON.stringify(v)}`);
    return v;
  };
  if ('emb_dim' in c || 'n_heads' in c) {
    return { vocabSize: int('vocab_size'), contextLength: int('context_length'), embDim: int('emb_dim'), nHeads: int('n_heads'), nLayers: int('n_layers'), qkvBias: bool('qkv_bias') };
  }
  if (c.model_type !== undefined && c.model_type !== 'gpt2') throw fail(`config.model_type is '${String(c.model_type)}', not 'gpt2'`);
  const eps = c.layer_norm_epsilon;
  if (eps !== undefined && eps !== 1e-5) throw fail(`config.layer_norm_epsilon is ${String(eps)}; this model's LayerNorm uses 1e-5`);
  const act = c.activation_function;
  if (act !== undefined && act !== 'gelu_new' && act !== 'gelu_pytorch_tanh') {
    throw fail(`config.activation_function is '${String(act)}'; this model uses GELU's tanh approximation ('gelu_new')`);
  }
  if (c.scale_attn_weights === false) throw fail('config.scale_attn_weights is false; this model always scales attention scores by 1/√head_size');
  if (c.scale_attn_by_inverse_layer_idx === true) throw fail('config.scale_attn_by_inverse_layer_idx is true; this model does not support it');
  const positions = int('n_positions');
  const ctx = int('n_ctx');
  if (positions !== undefined && ctx !== undefined && positions !== ctx) throw fail(`config.n_positions (${positions}) and n_ctx (${ctx}) differ`);
  const embDim = int('n_embd');
  const inner = int('n_inner');
  if (inner !== undefined && embDim !== undefined && inner !== 4 * embDim) throw fail(`config.n_inner is ${inner}; this model's feed-forward width is 4·n_embd = ${4 * embDim}`);
  return { vocabSize: int('vocab_size'), contextLength: positions ?? ctx, embDim, nHeads: int('n_head'), nLayers: int('n_layer'), qkvBias: bool('qkv_bias'), tied: bool('tie_word_embeddings') };
}

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

function sameValues(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** One tensor's values and shape, as {@link loadWeightsInto} takes them (by parameter name). */
export interface Weight {
  data: Float32Array;
  shape: number[];
}

/** Tensors of a file, tracking which were used so that leftovers can be reported by name. */
class TensorTable {
  private readonly used = new Set<string>();
  constructor(private readonly tensors: Map<string, DecodedTensor>) {}

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  /** A floating-point tensor of exactly `shape`; throws naming it when missing or different. */
  get(name: string, shape: number[]): Float32Array {
    const t = this.tensors.get(name);
    if (!t) throw fail(`tensor '${name}' is missing`);
    if (t.shape.join() !== shape.join()) throw fail(`tensor '${name}' has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
    if (!(t.data instanceof Float32Array)) throw fail(`tensor '${name}' is ${t.dtype}, expected a floating-point type`);
    this.used.add(name);
    return t.data;
  }

  /** Marks a tensor as deliberately ignored (buffers such as attention masks). */
  ignore(name: string): void {
    this.used.add(name);
  }

  shapeOf(name: string): number[] | undefined {
    return this.tensors.get(name)?.shape;
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  /**
   * Throws naming the first unused tensor within the model's own names (`ours`): a part of the model
   * we would silently drop. Tensors outside them (optimizer state, inputs saved alongside) are ignored.
   */
  checkAllUsed(ours: RegExp, model: string): void {
    const left = this.names().filter((n) => !this.used.has(n) && ours.test(n));
    if (left.length > 0) {
      throw fail(`tensor '${left[0]}'${left.length > 1 ? ` (and ${left.length - 1} more)` : ''} has no place in ${model}; remove it (or merge adapters) before loading`);
    }
  }
}

/** Options of {@link convertGPT2Weights} and {@link loadGPT2}. */
export interface GPT2WeightsOptions {
  /** Attention heads; needed when no config says it (must agree with the config when one does). */
  nHeads?: number;
  /** Dropout of the built model (default 0). */
  dropRate?: number;
}

/** Architecture read off the tensors, completed by the declared config and the options. */
function resolveConfig(found: { V: number; ctx: number; C: number; L: number; qkvBias: boolean; tied: boolean }, declared: Declared, options: GPT2WeightsOptions): GPTConfig {
  const { V, ctx, C, L } = found;
  const check = (what: string, declaredValue: number | undefined, actual: number): void => {
    if (declaredValue !== undefined && declaredValue !== actual) throw fail(`the config says ${what} ${declaredValue} but the tensors have ${actual}`);
  };
  check('vocab_size', declared.vocabSize, V);
  check('a context length of', declared.contextLength, ctx);
  check('a width of', declared.embDim, C);
  check('layer count', declared.nLayers, L);
  if (options.nHeads !== undefined && declared.nHeads !== undefined && options.nHeads !== declared.nHeads) {
    throw fail(`nHeads ${options.nHeads} contradicts the config's ${declared.nHeads} heads`);
  }
  const official = V === 50257 && ctx === 1024 ? OFFICIAL_HEADS[`${C}/${L}`] : undefined;
  const nHeads = options.nHeads ?? declared.nHeads ?? official;
  if (nHeads === undefined) {
    throw fail(
      `cannot know the number of attention heads of this ${C}-wide, ${L}-layer model: no config says it. ` +
        "Put the model's config.json beside the weights, or pass { config } (a config.json object, path or URL) or { nHeads }. " +
        '(Only files of exactly one of the four official GPT-2 shapes are recognised without a config.)',
    );
  }
  if (!Number.isInteger(nHeads) || nHeads < 1 || C % nHeads !== 0) throw fail(`${nHeads} heads do not divide the width ${C}`);
  return gptConfig({ vocabSize: V, contextLength: ctx, embDim: C, nHeads, nLayers: L, dropRate: options.dropRate ?? 0, qkvBias: found.qkvBias, tieWeights: found.tied });
}

function layerCount(names: string[], pattern: RegExp): number {
  let n = 0;
  for (const name of names) {
    const m = pattern.exec(name);
    if (m) n = Math.max(n, Number(m[1]) + 1);
  }
  return n;
}

function convertHF(table: TensorTable, declared: Declared, options: GPT2WeightsOptions): { config: GPTConfig; weights: Map<string, Weight> } {
  const prefix = table.has('transformer.wte.weight') ? 'transformer.' : '';
  const wteShape = table.shapeOf(`${prefix}wte.weight`)!;
  const wpeShape = table.shapeOf(`${prefix}wpe.weight`);
  if (wteShape.length !== 2) throw fail(`tensor '${prefix}wte.weight' has shape [${wteShape.join(', ')}], expected [vocab, width]`);
  if (!wpeShape || wpeShape.length !== 2) throw fail(`tensor '${prefix}wpe.weight' is ${wpeShape ? `of shape [${wpeShape.join(', ')}]` : 'missing'}, expected [context, width]`);
  const [V, C] = wteShape;
  const ctx = wpeShape[0];
  const L = layerCount(table.names(), /^(?:transformer\.)?h\.(\d+)\./);
  const name = (n: string) => prefix + n;
  // q/k/v biases: present on every layer, or on none.
  const biasOf = (i: number) => name(`h.${i}.attn.c_attn.bias`);
  let qkvBias = L > 0 && table.has(biasOf(0));
  for (let i = 1; i < L; i++) {
    if (table.has(biasOf(i)) !== qkvBias) throw fail(`tensor '${biasOf(qkvBias ? i : 0)}' is ${qkvBias ? 'missing' : 'present'} while layer ${qkvBias ? 0 : i} ${qkvBias ? 'has one' : 'has none'}`);
  }
  // An exported bias-free model carries zero c_attn biases (GPT-2 always has them) and says so in its config.
  if (qkvBias && declared.qkvBias === false) {
    for (let i = 0; i < L; i++) {
      if (table.get(biasOf(i), [3 * C]).some((v) => v !== 0)) throw fail(`the config says qkv_bias false but tensor '${biasOf(i)}' is not all zeros`);
    }
    qkvBias = false;
  }
  if (!qkvBias && declared.qkvBias === true) throw fail(`the config says qkv_bias true but tensor '${biasOf(0)}' is missing`);
  const wte = table.get(name('wte.weight'), [V, C]);
  let head: Float32Array | null = null;
  if (table.has('lm_head.weight')) {
    const lm = table.get('lm_head.weight', [V, C]);
    const same = sameValues(lm, wte);
    if (declared.tied === true && !same) throw fail("the config says tie_word_embeddings but tensor 'lm_head.weight' differs from 'wte.weight'");
    if (declared.tied === false || !same) head = lm;
  } else if (declared.tied === false) {
    throw fail("the config says tie_word_embeddings false but tensor 'lm_head.weight' is missing");
  }
  const config = resolveConfig({ V, ctx, C, L, qkvBias, tied: head === null }, declared, options);
  const weights = new Map<string, Weight>();
  const put = (n: string, data: Float32Array, shape: number[]) => weights.set(n, { data, shape });
  put('tok_emb.weight', wte, [V, C]);
  put('pos_emb.weight', table.get(name('wpe.weight'), [ctx, C]), [ctx, C]);
  for (let i = 0; i < L; i++) {
    const h = name(`h.${i}.`);
    const ours = `trf_blocks.${i}.`;
    put(`${ours}norm1.weight`, table.get(`${h}ln_1.weight`, [C]), [C]);
    put(`${ours}norm1.bias`, table.get(`${h}ln_1.bias`, [C]), [C]);
    const qkvW = table.get(`${h}attn.c_attn.weight`, [C, 3 * C]);
    const qkvB = qkvBias ? table.get(`${h}attn.c_attn.bias`, [3 * C]) : null;
    (['W_query', 'W_key', 'W_value'] as const).forEach((proj, k) => {
      put(`${ours}att.${proj}.weight`, transpose(columns(qkvW, C, 3 * C, k * C, (k + 1) * C), C, C), [C, C]);
      if (qkvB) put(`${ours}att.${proj}.bias`, qkvB.slice(k * C, (k + 1) * C), [C]);
    });
    put(`${ours}att.out_proj.weight`, transpose(table.get(`${h}attn.c_proj.weight`, [C, C]), C, C), [C, C]);
    put(`${ours}att.out_proj.bias`, table.get(`${h}attn.c_proj.bias`, [C]), [C]);
    put(`${ours}norm2.weight`, table.get(`${h}ln_2.weight`, [C]), [C]);
    put(`${ours}norm2.bias`, table.get(`${h}ln_2.bias`, [C]), [C]);
    put(`${ours}ff.layers.0.weight`, transpose(table.get(`${h}mlp.c_fc.weight`, [C, 4 * C]), C, 4 * C), [4 * C, C]);
    put(`${ours}ff.layers.0.bias`, table.get(`${h}mlp.c_fc.bias`, [4 * C]), [4 * C]);
    put(`${ours}ff.layers.2.weight`, transpose(table.get(`${h}mlp.c_proj.weight`, [4 * C, C]), 4 * C, C), [C, 4 * C]);
    put(`${ours}ff.layers.2.bias`, table.get(`${h}mlp.c_proj.bias`, [C]), [C]);
    // Hugging Face's causal-mask buffers (older files): not weights.
    table.ignore(`${h}attn.bias`);
    table.ignore(`${h}attn.masked_bias`);
  }
  put('final_norm.weight', table.get(name('ln_f.weight'), [C]), [C]);
  put('final_norm.bias', table.get(name('ln_f.bias'), [C]), [C]);
  if (head) put('out_head.weight', head, [V, C]);
  table.checkAllUsed(/^(?:transformer\.)?(?:h\.\d+\.|wte\.|wpe\.|ln_f\.)|^lm_head\./, 'a Hugging Face GPT-2 model');
  return { config, weights };
}

function convertBook(table: TensorTable, declared: Declared, options: GPT2WeightsOptions): { config: GPTConfig; weights: Map<string, Weight> } {
  const embShape = table.shapeOf('tok_emb.weight')!;
  const posShape = table.shapeOf('pos_emb.weight');
  if (embShape.length !== 2) throw fail(`tensor 'tok_emb.weight' has shape [${embShape.join(', ')}], expected [vocab, width]`);
  if (!posShape || posShape.length !== 2) throw fail(`tensor 'pos_emb.weight' is ${posShape ? `of shape [${posShape.join(', ')}]` : 'missing'}, expected [context, width]`);
  const [V, C] = embShape;
  const ctx = posShape[0];
  const L = layerCount(table.names(), /^trf_blocks\.(\d+)\./);
  const qkvBias = L > 0 && table.has('trf_blocks.0.att.W_query.bias');
  if (declared.qkvBias !== undefined && declared.qkvBias !== qkvBias) {
    throw fail(`the config says qkv_bias ${declared.qkvBias} but tensor 'trf_blocks.0.att.W_query.bias' is ${qkvBias ? 'present' : 'missing'}`);
  }
  const tied = !table.has('out_head.weight');
  const config = resolveConfig({ V, ctx, C, L, qkvBias, tied }, declared, options);
  // LayerNorm parameters: the book's scale/shift, or weight/bias (our names).
  const norm = (module: string, ours: 'weight' | 'bias'): Float32Array => {
    const book = `${module}.${ours === 'weight' ? 'scale' : 'shift'}`;
    return table.get(table.has(book) ? book : `${module}.${ours}`, [C]);
  };
  const weights = new Map<string, Weight>();
  const put = (n: string, shape: number[], data?: Float32Array) => weights.set(n, { data: data ?? table.get(n, shape), shape });
  put('tok_emb.weight', [V, C]);
  put('pos_emb.weight', [ctx, C]);
  for (let i = 0; i < L; i++) {
    const b = `trf_blocks.${i}.`;
    for (const proj of ['W_query', 'W_key', 'W_value']) {
      put(`${b}att.${proj}.weight`, [C, C]);
      if (qkvBias) put(`${b}att.${proj}.bias`, [C]);
    }
    put(`${b}att.out_proj.weight`, [C, C]);
    put(`${b}att.out_proj.bias`, [C]);
    put(`${b}ff.layers.0.weight`, [4 * C, C]);
    put(`${b}ff.layers.0.bias`, [4 * C]);
    put(`${b}ff.layers.2.weight`, [C, 4 * C]);
    put(`${b}ff.layers.2.bias`, [C]);
    for (const n of ['norm1', 'norm2']) {
      put(`${b}${n}.weight`, [C], norm(`${b}${n}`, 'weight'));
      put(`${b}${n}.bias`, [C], norm(`${b}${n}`, 'bias'));
    }
    table.ignore(`${b}att.mask`); // the causal-mask buffer of the book's MultiHeadAttention
  }
  put('final_norm.weight', [C], norm('final_norm', 'weight'));
  put('final_norm.bias', [C], norm('final_norm', 'bias'));
  if (!tied) put('out_head.weight', [V, C]);
  table.checkAllUsed(/^(?:trf_blocks\.\d+\.|tok_emb\.|pos_emb\.|final_norm\.|out_head\.)/, "the book's GPTModel");
  return { config, weights };
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

/** @internal {@link loadGPT2} over a platform's files and cache. */
export async function loadGPT2With(io: PlatformIO, source: WeightsSource, options: LoadGPT2Options = {}): Promise<GPTModel> {
  const bytes = await sourceBytes(io, source, options);
  const config = await sourceConfig(io, source, options);
  const { config: modelConfig, weights } = convertGPT2Weights(parseSafetensors(bytes).tensors, { ...options, config });
  const model = new GPTModel(modelConfig);
  try {
    loadWeightsInto(model, weights);
  } catch (err) {
    model.dispose();
    throw err;
  }
  return model;
}
