/**
 * The GPT model of the book's chapter 4: token + position embeddings, pre-LN transformer blocks
 * (fused causal multi-head attention, GELU feed-forward 4×, residuals, dropout), final norm and
 * output head. Parameter names follow the book's PyTorch model (`tok_emb.weight`,
 * `trf_blocks.0.att.W_query.weight`, `trf_blocks.0.ff.layers.0.weight`, `out_head.weight`, ...),
 * except that LayerNorm's `scale`/`shift` are called `weight`/`bias` (see `weights.ts` for mapping).
 *
 * Shapes: B batch, T sequence, C embedding, NH heads, V vocabulary.
 *
 * Fusion happens at run time and leaves the parameters and the state dict as they are: a block made
 * of the standard layers runs its LayerNorms inside the following projections, its bias, GELU and
 * shortcut adds in the projections' epilogues (`linear`, `linearEpilogue`), and, when decoding with a
 * KV cache, its query/key/value projections as one dispatch that writes the cache (`qkvProjection`):
 * five dispatches per block and token. A block whose layers were replaced (LoRA, custom modules)
 * runs the modules' own `forward`s.
 */
import { add, arange, attention, castInto, Dropout, Embedding, fmt, GELU, gpu, hasF16, keep, layerNorm, LayerNorm, linear, Linear, type LinearNorm, matmul, Module, ModuleList, needsGrad, qkvProjection, recordCopy, scope, ScratchGPTError, Sequential, Tensor } from '@scratchgpt/core';
import { countParameters, validateConfig, type GPTConfig } from './config';
import { castLinearWeights, weightDTypeOf, type WeightDType } from './half-weights';

export type { WeightDType } from './half-weights';

/** Per-layer key/value cache for incremental decoding (`[B, contextLength, C]` each). */
export interface LayerCache {
  k: Tensor;
  v: Tensor;
}

/** Storage type of a KV cache: f32, or f16 (half the memory; needs the adapter's `shader-f16`). */
export type KVCacheDType = 'f32' | 'f16';

/** Key/value cache of a whole model; `length` is how many positions it holds. */
export class KVCache {
  length = 0;
  constructor(
    readonly layers: LayerCache[],
    readonly batch: number,
    readonly capacity: number,
  ) {}

  /** The keys' and values' storage type (see `GPTModel.createCache`). */
  get dtype(): KVCacheDType {
    return this.layers[0]?.k.dtype === 'f16' ? 'f16' : 'f32';
  }

  dispose(): void {
    for (const { k, v } of this.layers) {
      k.dispose();
      v.dispose();
    }
  }
}

let fusedKernels = true;

/**
 * @internal Turns the run-time fusions off (`false`: every module's own `forward`, as before they
 * existed) or back on; returns the previous setting. For tests and benchmarks that compare the two.
 */
export function setFusedKernels(enabled: boolean): boolean {
  const previous = fusedKernels;
  fusedKernels = enabled;
  return previous;
}

/** Whether `m` is exactly an instance of `type` (not a subclass or a replacement such as a LoRA layer). */
function isExactly(m: unknown, type: abstract new (...args: never[]) => unknown): boolean {
  return m !== null && typeof m === 'object' && m.constructor === type;
}

/** A LayerNorm module as the `norm` option of the fused ops. */
function normOf(ln: LayerNorm): LinearNorm {
  return { weight: ln.weight, bias: ln.bias, eps: ln.eps };
}

/** Appends `x` `[B, n, C]` at row `at` of `cache` `[B, capacity, C]` (one copy, or f16 conversion, per batch row). */
function writeRows(cache: Tensor, x: Tensor, at: number): void {
  const [b, n, c] = x.shape;
  const capacity = cache.shape[1];
  for (let i = 0; i < b; i++) {
    if (cache.dtype === 'f16') castInto(x, cache, { sourceOffset: i * n * c, targetOffset: (i * capacity + at) * c, count: n * c });
    else recordCopy(x.buffer, x.byteOffset + i * n * c * 4, cache.buffer, cache.byteOffset + (i * capacity + at) * c * 4, n * c * 4);
  }
}

/** Causal multi-head self-attention with query/key/value projections and an output projection. */
export class MultiHeadAttention extends Module<[Tensor, LayerCache?, number?]> {
  readonly W_query: Linear;
  readonly W_key: Linear;
  readonly W_value: Linear;
  readonly out_proj: Linear;

  constructor(readonly config: GPTConfig) {
    super();
    const C = config.embDim;
    this.W_query = this.module('W_query', new Linear(C, C, { bias: config.qkvBias }));
    this.W_key = this.module('W_key', new Linear(C, C, { bias: config.qkvBias }));
    this.W_value = this.module('W_value', new Linear(C, C, { bias: config.qkvBias }));
    this.out_proj = this.module('out_proj', new Linear(C, C));
  }

  /** x `[B, T, C]` → `[B, T, C]`. With a cache, x holds the new positions only, written at `past`. */
  override forward(x: Tensor, cache?: LayerCache, past = 0): Tensor {
    const heads = this.config.nHeads;
    const q = this.W_query.forward(x); // [B, T, C], heads side by side: [B, T, NH·HS]
    const k = this.W_key.forward(x); // [B, T, C]
    const v = this.W_value.forward(x); // [B, T, C]
    if (!cache) {
      const dropout = this.training ? this.config.dropRate : 0;
      return this.out_proj.forward(attention(q, k, v, { causal: true, heads, dropout })); // [B, T, C]
    }
    writeRows(cache.k, k, past); // cache.k [B, capacity, C], rows past .. past+T
    writeRows(cache.v, v, past);
    return this.out_proj.forward(attention(q, cache.k, cache.v, { causal: true, heads, kvLength: past + x.shape[1] })); // [B, T, C]
  }
}

/** Pre-LN transformer block: x + drop(att(norm1(x))), then + drop(ff(norm2(x))). */
export class TransformerBlock extends Module<[Tensor, LayerCache?, number?]> {
  readonly att: MultiHeadAttention;
  readonly ff: Module;
  readonly norm1: LayerNorm;
  readonly norm2: LayerNorm;
  readonly drop_shortcut: Dropout;

  constructor(config: GPTConfig) {
    super();
    const C = config.embDim;
    this.att = this.module('att', new MultiHeadAttention(config));
    // Named like the book's FeedForward: ff.layers.0 (C → 4C), ff.layers.2 (4C → C).
    this.ff = this.module('ff', new FeedForward(C));
    this.norm1 = this.module('norm1', new LayerNorm(C));
    this.norm2 = this.module('norm2', new LayerNorm(C));
    this.drop_shortcut = this.module('drop_shortcut', new Dropout(config.dropRate));
  }

  override forward(x: Tensor, cache?: LayerCache, past = 0): Tensor {
    if (fusedKernels && this.isStandard()) return this.fusedForward(x, cache, past);
    x = add(x, this.drop_shortcut.forward(this.att.forward(this.norm1.forward(x), cache, past))); // [B, T, C]
    return add(x, this.drop_shortcut.forward(this.ff.forward(this.norm2.forward(x)))); // [B, T, C]
  }

  /** Whether every layer is the library's own (so the fused ops compute exactly what the modules would). */
  private isStandard(): boolean {
    const { att, ff } = this;
    const layers = ff instanceof FeedForward ? ff.layers.layers : [];
    return (
      isExactly(att, MultiHeadAttention) &&
      [att.W_query, att.W_key, att.W_value, att.out_proj].every((l) => isExactly(l, Linear)) &&
      isExactly(ff, FeedForward) &&
      layers.length === 3 &&
      isExactly(layers[0], Linear) &&
      isExactly(layers[1], GELU) &&
      isExactly(layers[2], Linear) &&
      isExactly(this.norm1, LayerNorm) &&
      isExactly(this.norm2, LayerNorm) &&
      isExactly(this.drop_shortcut, Dropout)
    );
  }

  /**
   * The same computation as the modules', in fewer dispatches: the LayerNorms inside the projections
   * that read them, bias/GELU/shortcut in the projections' epilogues, and with a cache (no gradients)
   * the query/key/value projections in one dispatch that writes the new keys and values into it.
   * While dropout is active the shortcut adds stay separate (dropout sits between them).
   */
  private fusedForward(x: Tensor, cache: LayerCache | undefined, past: number): Tensor {
    const { att } = this;
    const { W_query: wq, W_key: wk, W_value: wv, out_proj: proj } = att;
    const [fc, , fcOut] = (this.ff as FeedForward).layers.layers as [Linear, GELU, Linear];
    const heads = att.config.nHeads;
    const T = x.shape[1];
    const dropping = this.drop_shortcut.training && this.drop_shortcut.p > 0;
    /** `x + drop(linear(h))`: the add in the epilogue unless dropout sits between. */
    const shortcut = (h: Tensor, layer: Linear, residual: Tensor): Tensor =>
      dropping
        ? add(residual, this.drop_shortcut.forward(linear(h, layer.weight, { bias: layer.bias })))
        : linear(h, layer.weight, { bias: layer.bias, residual });

    let a: Tensor; // attention output before out_proj, [B, T, C]
    if (cache && !needsGrad(x, wq.weight, wk.weight, wv.weight, wq.bias, wk.bias, wv.bias, this.norm1.weight, this.norm1.bias)) {
      const q = qkvProjection(
        x,
        { query: wq.weight, key: wk.weight, value: wv.weight, queryBias: wq.bias, keyBias: wk.bias, valueBias: wv.bias },
        { keys: cache.k, values: cache.v, position: past },
        { norm: normOf(this.norm1) },
      ); // [B, T, C]; keys and values written to cache rows past .. past+T
      a = attention(q, cache.k, cache.v, { causal: true, heads, kvLength: past + T });
    } else {
      const h = layerNorm(x, this.norm1.weight, this.norm1.bias, this.norm1.eps); // read by all three projections
      const [q, k, v] = [wq, wk, wv].map((l) => linear(h, l.weight, { bias: l.bias })); // [B, T, C] each
      if (cache) {
        writeRows(cache.k, k, past);
        writeRows(cache.v, v, past);
        a = attention(q, cache.k, cache.v, { causal: true, heads, kvLength: past + T });
      } else {
        a = attention(q, k, v, { causal: true, heads, dropout: att.training ? att.config.dropRate : 0 });
      }
    }
    x = shortcut(a, proj, x); // [B, T, C]
    const hidden = linear(x, fc.weight, { bias: fc.bias, activation: 'gelu', norm: normOf(this.norm2) }); // [B, T, 4C]
    return shortcut(hidden, fcOut, x); // [B, T, C]
  }
}

/** Linear(C, 4C) → GELU → Linear(4C, C). */
export class FeedForward extends Module {
  readonly layers: Sequential;
  constructor(C: number) {
    super();
    this.layers = this.module('layers', new Sequential(new Linear(C, 4 * C), new GELU(), new Linear(4 * C, C)));
  }
  override forward(x: Tensor): Tensor {
    return this.layers.forward(x);
  }
}

export interface ForwardOptions {
  /** Cache to read and extend (incremental decoding); positions continue at `cache.length`. */
  cache?: KVCache;
  /** Compute logits for the last position only (`[B, V]`), as generation needs. */
  lastOnly?: boolean;
}

/** GPT-2-style decoder-only language model. */
export class GPTModel extends Module<[Tensor, ForwardOptions?]> {
  readonly config: GPTConfig;
  readonly tok_emb: Embedding;
  readonly pos_emb: Embedding;
  readonly drop_emb: Dropout;
  readonly trf_blocks: ModuleList<TransformerBlock>;
  readonly final_norm: LayerNorm;
  /** Output projection `[V, C]`; null when tied to `tok_emb` (then `tok_emb.weight` is used). */
  readonly out_head: Linear | null;

  constructor(config: GPTConfig) {
    super();
    validateConfig(config);
    this.config = { ...config };
    const { vocabSize: V, contextLength, embDim: C, nLayers } = config;
    this.tok_emb = this.module('tok_emb', new Embedding(V, C));
    this.pos_emb = this.module('pos_emb', new Embedding(contextLength, C));
    this.drop_emb = this.module('drop_emb', new Dropout(config.dropRate));
    this.trf_blocks = this.module('trf_blocks', new ModuleList(Array.from({ length: nLayers }, () => new TransformerBlock(config))));
    this.final_norm = this.module('final_norm', new LayerNorm(C));
    this.out_head = config.tieWeights ? null : this.module('out_head', new Linear(C, V, { bias: false }));
  }

  /** Parameter count from the configuration (same as `numParameters()`). */
  static countParameters(config: GPTConfig): number {
    return countParameters(config);
  }

  /**
   * The transformer trunk: ids i32 `[B, T]` → hidden states `[B, T, C]` after the last block, before
   * `final_norm` (what classification heads and pooling read). With a cache, `ids` holds the new
   * positions only and the cache is extended. Like `forward`, it frees what it does not return.
   */
  trunk(ids: Tensor, { cache }: { cache?: KVCache } = {}): Tensor {
    return scope(() => this.trunkBody(ids, cache));
  }

  private trunkBody(ids: Tensor, cache?: KVCache): Tensor {
    if (ids.dtype !== 'i32' || ids.rank !== 2) throw new ScratchGPTError('shape', `scratchgpt: GPTModel expects i32 token ids [B, T], got ${ids.dtype} ${fmt(ids.shape)}`);
    const [B, T] = ids.shape;
    if (T === 0) throw new ScratchGPTError('shape', `scratchgpt: GPTModel got an empty sequence (ids of shape ${fmt(ids.shape)}, T = 0): give every row at least one token`);
    const past = cache?.length ?? 0;
    if (past + T > this.config.contextLength) {
      throw new ScratchGPTError('shape', `scratchgpt: sequence of ${past + T} tokens exceeds the context length ${this.config.contextLength}`);
    }
    if (cache && cache.batch !== B) throw new ScratchGPTError('shape', `scratchgpt: KV cache was made for batch ${cache.batch}, got ids ${fmt(ids.shape)}`);
    const tok = this.tok_emb.forward(ids); // [B, T, C]
    const pos = this.pos_emb.forward(arange(past, past + T, 1, { dtype: 'i32' })); // [T, C]
    let x = this.drop_emb.forward(add(tok, pos)); // [B, T, C]
    let layer = 0;
    for (const block of this.trf_blocks) x = block.forward(x, cache?.layers[layer++], past); // [B, T, C]
    if (cache) cache.length = past + T;
    return x;
  }

  /**
   * ids i32 `[B, T]` → logits `[B, T, V]` (or `[B, V]` with `lastOnly`). An id outside [0, V) is
   * found by the embedding kernel and thrown by the next readback (check host ids with `checkTokenIds`).
   */
  override forward(ids: Tensor, { cache, lastOnly = false }: ForwardOptions = {}): Tensor {
    let x = this.trunk(ids, { cache }); // [B, T, C]
    if (lastOnly) x = lastPosition(x); // [B, C]
    const head = this.out_head ?? null;
    if (fusedKernels && isExactly(this.final_norm, LayerNorm) && (head === null || isExactly(head, Linear))) {
      // final_norm inside the head's projection (one dispatch per weight range when decoding).
      return linear(x, head ? head.weight : this.tok_emb.weight, { bias: head?.bias, norm: normOf(this.final_norm) }); // [B, (T,) V]
    }
    x = this.final_norm.forward(x); // [B, (T,) C]
    return head ? head.forward(x) : matmul(x, this.tok_emb.weight, { transB: true }); // [B, (T,) V]
  }

  /**
   * An empty KV cache for `batch` sequences (up to the context length). Kept out of scopes: dispose it.
   * `dtype: 'f16'` stores keys and values as halves: half the memory (and, on GPUs, half the bytes
   * attention reads per decoded token) for a rounding of each key and value to 11 significant bits;
   * attention still computes in f32. It needs the adapter's `shader-f16` feature (see `hasF16()`).
   * @example
   * ```ts
   * const cache = model.createCache(1, { dtype: hasF16() ? 'f16' : 'f32' });
   * const logits = model.forward(ids, { cache, lastOnly: true });
   * cache.dispose();
   * ```
   */
  createCache(batch: number, { dtype = 'f32' }: { dtype?: KVCacheDType } = {}): KVCache {
    if (dtype !== 'f32' && dtype !== 'f16') throw new ScratchGPTError('value', `scratchgpt: KV cache dtype must be 'f32' or 'f16', got '${String(dtype)}'`);
    if (dtype === 'f16' && !hasF16()) {
      throw new ScratchGPTError('value', `scratchgpt: an f16 KV cache needs the adapter's 'shader-f16' feature, which ${gpu().adapterName} lacks: use an f32 cache (the default)`);
    }
    const { nLayers, contextLength, embDim } = this.config;
    const layers = Array.from({ length: nLayers }, () => ({
      k: keep(Tensor.empty([batch, contextLength, embDim], dtype)),
      v: keep(Tensor.empty([batch, contextLength, embDim], dtype)),
    }));
    return new KVCache(layers, batch, contextLength);
  }

  /**
   * Converts the projection weights in place, like PyTorch's `.half()` / `.float()`: `'f16'` rounds
   * each weight of the attention query/key/value/output projections, the feed-forward layers and an
   * untied output head to the nearest half (lossy) and frees the f32 copy, roughly halving the model's
   * memory and the bytes a decoding step reads; `'f32'` widens them back (exactly: the f16 rounding
   * stays). Embeddings, LayerNorms, biases and a tied head stay f32, as do the layers of blocks whose
   * modules were replaced (LoRA). The products still run in f32 (the fused kernels read the halves).
   * f16 weights are for inference: a forward that records gradients through one throws ("f16 weights
   * carry no gradients"), so run it under `noGrad` (generation does) and cast back to f32 before
   * training, saving or loading a state dict. Returns this.
   * @example
   * ```ts
   * model.castWeights('f16');
   * for await (const id of generateTokens(model, prompt, { maxNewTokens: 20 })) out.push(id);
   * model.castWeights('f32'); // before fine-tuning again
   * ```
   */
  castWeights(dtype: WeightDType): this {
    castLinearWeights(this.projections(), dtype);
    return this;
  }

  /** The dtype of the projection weights (`castWeights`): `'f16'` once any is f16. */
  get weightDType(): WeightDType {
    return weightDTypeOf(this.projections());
  }

  /** The `Linear` layers `castWeights` converts: those of standard blocks, and an untied standard head. */
  private projections(): Linear[] {
    const out: Linear[] = [];
    for (const block of this.trf_blocks) {
      const { att, ff } = block;
      const layers = ff instanceof FeedForward ? ff.layers.layers : [];
      const candidates = [att.W_query, att.W_key, att.W_value, att.out_proj, layers[0], layers[2]];
      if (candidates.every((l) => isExactly(l, Linear))) out.push(...(candidates as Linear[]));
    }
    if (this.out_head && isExactly(this.out_head, Linear)) out.push(this.out_head);
    return out;
  }
}

/** x `[B, T, C]` → `[B, C]` (position T−1), for generation: a view when T = 1, else a copy autograd does not see. */
function lastPosition(x: Tensor): Tensor {
  const [B, T, C] = x.shape;
  if (T === 1) return x.reshape([B, C]);
  const out = Tensor.empty([B, C], 'f32');
  for (let b = 0; b < B; b++) recordCopy(x.buffer, x.byteOffset + ((b * T + T - 1) * C) * 4, out.buffer, out.byteOffset + b * C * 4, C * 4);
  return out;
}
