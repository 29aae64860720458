/**
 * The golden fixture's weights (book layout, PyTorch-made) rewritten by hand in the Hugging Face GPT-2
 * layout: an oracle for the loader and the exporter, written independently of both.
 */
import type { TensorToWrite } from '../src/index.node';
import { bookParameterNames, tensorOf } from './golden';

function transposed(w: Float32Array, rows: number, cols: number): Float32Array {
  const o = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) o[c * rows + r] = w[r * cols + c];
  return o;
}

/**
 * The golden weights in the HF layout, names under `prefix`. `qkvBias: false` leaves out the
 * c_attn biases; `lmHead` adds the golden `out_head` as `lm_head.weight` (an untied head).
 */
export function goldenAsHF({ prefix = '', qkvBias = true, lmHead = false }: { prefix?: string; qkvBias?: boolean; lmHead?: boolean } = {}): Map<string, TensorToWrite> {
  const out = new Map<string, TensorToWrite>();
  const get = (n: string) => tensorOf(n).data as Float32Array;
  const C = tensorOf('tok_emb.weight').shape[1];
  const put = (name: string, data: Float32Array, shape: number[]) => out.set(prefix + name, { dtype: 'F32', shape, data });
  put('wte.weight', get('tok_emb.weight'), tensorOf('tok_emb.weight').shape);
  put('wpe.weight', get('pos_emb.weight'), tensorOf('pos_emb.weight').shape);
  const layers = new Set(bookParameterNames().filter((n) => n.startsWith('trf_blocks.')).map((n) => n.split('.')[1])).size;
  for (let i = 0; i < layers; i++) {
    const b = `trf_blocks.${i}.`;
    const h = `h.${i}.`;
    put(`${h}ln_1.weight`, get(`${b}norm1.scale`), [C]);
    put(`${h}ln_1.bias`, get(`${b}norm1.shift`), [C]);
    put(`${h}ln_2.weight`, get(`${b}norm2.scale`), [C]);
    put(`${h}ln_2.bias`, get(`${b}norm2.shift`), [C]);
    // c_attn: [in, 3·out] with q | k | v column blocks
    const qkv = new Float32Array(C * 3 * C);
    ['W_query', 'W_key', 'W_value'].forEach((p, k) => {
      const wt = transposed(get(`${b}att.${p}.weight`), C, C); // [in, out]
      for (let r = 0; r < C; r++) qkv.set(wt.subarray(r * C, (r + 1) * C), r * 3 * C + k * C);
    });
    put(`${h}attn.c_attn.weight`, qkv, [C, 3 * C]);
    if (qkvBias) put(`${h}attn.c_attn.bias`, Float32Array.from([...get(`${b}att.W_query.bias`), ...get(`${b}att.W_key.bias`), ...get(`${b}att.W_value.bias`)]), [3 * C]);
    put(`${h}attn.c_proj.weight`, transposed(get(`${b}att.out_proj.weight`), C, C), [C, C]);
    put(`${h}attn.c_proj.bias`, get(`${b}att.out_proj.bias`), [C]);
    put(`${h}attn.bias`, new Float32Array(16 * 16), [1, 1, 16, 16]); // HF's causal-mask buffer: ignored
    put(`${h}mlp.c_fc.weight`, transposed(get(`${b}ff.layers.0.weight`), 4 * C, C), [C, 4 * C]);
    put(`${h}mlp.c_fc.bias`, get(`${b}ff.layers.0.bias`), [4 * C]);
    put(`${h}mlp.c_proj.weight`, transposed(get(`${b}ff.layers.2.weight`), C, 4 * C), [4 * C, C]);
    put(`${h}mlp.c_proj.bias`, get(`${b}ff.layers.2.bias`), [C]);
  }
  put('ln_f.weight', get('final_norm.scale'), [C]);
  put('ln_f.bias', get('final_norm.shift'), [C]);
  if (lmHead) out.set('lm_head.weight', { dtype: 'F32', shape: tensorOf('out_head.weight').shape, data: get('out_head.weight') });
  return out;
}

/** The golden fixture's parameters under the book's names (what `torch.save(model.state_dict())` holds, less buffers). */
export function goldenBookTensors({ qkvBias = true, outHead = true }: { qkvBias?: boolean; outHead?: boolean } = {}): Map<string, TensorToWrite> {
  const out = new Map<string, TensorToWrite>();
  for (const name of bookParameterNames()) {
    if (!qkvBias && /W_(query|key|value)\.bias$/.test(name)) continue;
    if (!outHead && name === 'out_head.weight') continue;
    const t = tensorOf(name);
    out.set(name, { dtype: 'F32', shape: t.shape, data: t.data as Float32Array });
  }
  return out;
}
