/**
 * Exporting a GPTModel in the Hugging Face GPT-2 layout — `model.safetensors` plus `config.json` — so
 * that `transformers`' `GPT2LMHeadModel.from_pretrained(dir)` (and everything built on it: PyTorch
 * training, ONNX export, inference servers) loads it.
 *
 * Layout: Conv1D weights `[in, out]` (our Linear's `[out, in]` transposed), q/k/v fused into
 * `attn.c_attn` (columns q | k | v). A tied model is written like `openai-community/gpt2`: names
 * without the `transformer.` prefix, no `lm_head.weight`. An untied model is written like
 * `save_pretrained` writes one: every trunk name under `transformer.` plus `lm_head.weight` —
 * transformers rejects a file that mixes unprefixed trunk names with `lm_head.weight`.
 * GPT-2 always has c_attn biases: a model without q/k/v biases (`qkvBias: false`) gets zero biases
 * (the same function) and `"qkv_bias": false` in its config, an extra key transformers ignores and
 * {@link loadGPT2} uses to load the model back without biases.
 */
import { ScratchGPTError } from '@scratchgpt/core';
import type { GPTConfig } from './config';
import type { GPTModel } from './model';
import { readFiniteTensor } from './readback';
import { serializeSafetensors, type TensorToWrite } from './safetensors';
import { EOT_TOKEN } from './tokenizer';

/** A model in the Hugging Face GPT-2 layout: the two files of a `from_pretrained` directory. */
export interface GPT2Export {
  /** `model.safetensors`. */
  safetensors: Uint8Array;
  /** `config.json`, parsed. */
  config: Record<string, unknown>;
  /** `config.json` as written (pretty-printed JSON). */
  configJson: string;
}

/** The `config.json` (GPT2Config fields) describing a model of this configuration. */
export function gpt2HFConfig(c: GPTConfig): Record<string, unknown> {
  const config: Record<string, unknown> = {
    model_type: 'gpt2',
    architectures: ['GPT2LMHeadModel'],
    vocab_size: c.vocabSize,
    n_positions: c.contextLength,
    n_ctx: c.contextLength,
    n_embd: c.embDim,
    n_layer: c.nLayers,
    n_head: c.nHeads,
    n_inner: null,
    activation_function: 'gelu_new',
    resid_pdrop: c.dropRate,
    embd_pdrop: c.dropRate,
    attn_pdrop: c.dropRate,
    layer_norm_epsilon: 1e-5,
    initializer_range: 0.02,
    scale_attn_weights: true,
    scale_attn_by_inverse_layer_idx: false,
    reorder_and_upcast_attn: false,
    tie_word_embeddings: c.tieWeights,
    use_cache: true,
    torch_dtype: 'float32',
  };
  if (c.vocabSize > EOT_TOKEN) Object.assign(config, { bos_token_id: EOT_TOKEN, eos_token_id: EOT_TOKEN });
  if (!c.qkvBias) config.qkv_bias = false;
  return config;
}

function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}

/**
 * Writes `model` in the Hugging Face GPT-2 layout (see the module comment). Reads every parameter back
 * once; throws, naming it, for a non-finite weight or a parameter that has no place in GPT-2 (merge
 * LoRA adapters into the weights first).
 * @example
 * ```ts
 * const { safetensors, configJson } = await exportGPT2(model);
 * // Node: await saveGPT2('my-gpt2', model) writes both files; then in Python:
 * // GPT2LMHeadModel.from_pretrained('my-gpt2')
 * ```
 */
export async function exportGPT2(model: GPTModel): Promise<GPT2Export> {
  const c = model.config;
  const C = c.embDim;
  const params = new Map(model.namedParameters());
  const used = new Set<string>();
  const read = async (name: string): Promise<Float32Array> => {
    const t = params.get(name);
    if (!t) throw new ScratchGPTError('shape', `scratchgpt: exportGPT2: the model has no parameter '${name}'`);
    used.add(name);
    return (await readFiniteTensor(name, t, 'export the model')).data as Float32Array;
  };
  const prefix = c.tieWeights ? '' : 'transformer.';
  const out = new Map<string, TensorToWrite>();
  const put = (name: string, shape: number[], data: Float32Array) => out.set(name, { dtype: 'F32', shape, data });
  put(`${prefix}wte.weight`, [c.vocabSize, C], await read('tok_emb.weight'));
  put(`${prefix}wpe.weight`, [c.contextLength, C], await read('pos_emb.weight'));
  for (let i = 0; i < c.nLayers; i++) {
    const b = `trf_blocks.${i}.`;
    const h = `${prefix}h.${i}.`;
    put(`${h}ln_1.weight`, [C], await read(`${b}norm1.weight`));
    put(`${h}ln_1.bias`, [C], await read(`${b}norm1.bias`));
    const qkvWeight = new Float32Array(C * 3 * C);
    const qkvBias = new Float32Array(3 * C);
    const projections = ['W_query', 'W_key', 'W_value'];
    for (let k = 0; k < 3; k++) {
      const w = transpose(await read(`${b}att.${projections[k]}.weight`), C, C); // [in, out]
      for (let r = 0; r < C; r++) qkvWeight.set(w.subarray(r * C, (r + 1) * C), r * 3 * C + k * C);
      if (c.qkvBias) qkvBias.set(await read(`${b}att.${projections[k]}.bias`), k * C);
    }
    put(`${h}attn.c_attn.weight`, [C, 3 * C], qkvWeight);
    put(`${h}attn.c_attn.bias`, [3 * C], qkvBias);
    put(`${h}attn.c_proj.weight`, [C, C], transpose(await read(`${b}att.out_proj.weight`), C, C));
    put(`${h}attn.c_proj.bias`, [C], await read(`${b}att.out_proj.bias`));
    put(`${h}ln_2.weight`, [C], await read(`${b}norm2.weight`));
    put(`${h}ln_2.bias`, [C], await read(`${b}norm2.bias`));
    put(`${h}mlp.c_fc.weight`, [C, 4 * C], transpose(await read(`${b}ff.layers.0.weight`), 4 * C, C));
    put(`${h}mlp.c_fc.bias`, [4 * C], await read(`${b}ff.layers.0.bias`));
    put(`${h}mlp.c_proj.weight`, [4 * C, C], transpose(await read(`${b}ff.layers.2.weight`), C, 4 * C));
    put(`${h}mlp.c_proj.bias`, [C], await read(`${b}ff.layers.2.bias`));
  }
  put(`${prefix}ln_f.weight`, [C], await read('final_norm.weight'));
  put(`${prefix}ln_f.bias`, [C], await read('final_norm.bias'));
  if (!c.tieWeights) put('lm_head.weight', [c.vocabSize, C], await read('out_head.weight'));
  const extra = [...params.keys()].find((n) => !used.has(n));
  if (extra) throw new ScratchGPTError('format', `scratchgpt: exportGPT2: parameter '${extra}' has no place in the GPT-2 layout (merge LoRA adapters into the weights first)`);
  const config = gpt2HFConfig(c);
  // `format: pt` is what transformers' safetensors loader expects in the metadata.
  const safetensors = serializeSafetensors(out, { format: 'pt' });
  return { safetensors, config, configJson: `${JSON.stringify(config, null, 2)}\n` };
}
