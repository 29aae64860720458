/**
 * The two layouts of GPT-2 weights, mapped to our parameter names and shapes:
 *
 * - Hugging Face GPT-2: `wte`, `wpe`, `h.{i}.ln_1`, `h.{i}.attn.c_attn` (q|k|v fused), `h.{i}.attn.c_proj`,
 *   `h.{i}.ln_2`, `h.{i}.mlp.c_fc`, `h.{i}.mlp.c_proj`, `ln_f`, optionally under `transformer.`, and
 *   `lm_head.weight` when the head is not tied to `wte`. Conv1D weights are stored `[in, out]` and
 *   transposed to our Linear's `[out, in]`; `c_attn` is split into W_query, W_key and W_value.
 * - The book's PyTorch `GPTModel.state_dict()`: our names already, LayerNorm `scale`/`shift` for
 *   `weight`/`bias`; `att.mask` buffers are ignored.
 */
import type { GPTConfig } from './config';
import { resolveConfig, type Declared, type GPT2WeightsOptions } from './gpt2-config';
import { layerCount, weightsError as fail, type TensorTable } from './gpt2-tensors';

/** One tensor's values and shape, as {@link loadWeightsInto} takes them (by parameter name). */
export interface Weight {
  data: Float32Array;
  shape: number[];
}

/** A converted file: the configuration it implies and its weights under our parameter names. */
export interface ConvertedWeights {
  config: GPTConfig;
  weights: Map<string, Weight>;
}

/** A row-major [rows, cols] matrix as [cols, rows]. */
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

/** Converts a Hugging Face GPT-2 file (`wte.weight` or `transformer.wte.weight` present). */
export function convertHF(table: TensorTable, declared: Declared, options: GPT2WeightsOptions): ConvertedWeights {
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
  if (head === null && options.untieHead) head = wte; // uploaded as a second tensor: the book's untied head
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

/** Converts a state dict of the book's `GPTModel` (`tok_emb.weight` present). */
export function convertBook(table: TensorTable, declared: Declared, options: GPT2WeightsOptions): ConvertedWeights {
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
  const untie = !table.has('out_head.weight') && options.untieHead === true;
  const tied = !table.has('out_head.weight') && !untie;
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
  if (!tied) put('out_head.weight', [V, C], untie ? table.get('tok_emb.weight', [V, C]) : undefined);
  table.checkAllUsed(/^(?:trf_blocks\.\d+\.|tok_emb\.|pos_emb\.|final_norm\.|out_head\.)/, "the book's GPTModel");
  return { config, weights };
}
