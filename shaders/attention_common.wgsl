// Shared by the attention kernels (shaders/attention.wgsl, shaders/attention_flash.wgsl): the Params
// block, the bindings, the dropout hash and the row addressing. Append it with `with`.
// q, o, dq: [BH, T, D]; k, v: [BH, S, D] (or the packed [B, T, heads·D] layout). Causal masking is
// bottom-right aligned: query i sees keys j ≤ i + (S − T), so T < S is a decode step against a KV cache
// (T == S is ordinary self-attention). stats: [2, BH, T] = log-sum-exp per row, then D_i = dO_i·O_i
// (written by backward_q); dkv: [2, BH, kv_rows, D] = dK then dV (rows ≥ S get zeros). Eight storage
// bindings: the most every WebGPU device allows. `act` is the storage type of q, k, v, o and their
// gradients: f32, or f16 on adapters with shader-f16 (an alias the op supplies, ops/variants.ts);
// `kv_act` that of k and v: `act`, or f16 under f32 `act` (an f16 KV cache, forward only); arithmetic
// is f32 either way.

struct Params {
  bh: u32,        // batch × heads
  t: u32,         // query rows
  s: u32,         // key rows
  d: u32,         // head dim
  scale: f32,     // usually 1/sqrt(d)
  causal: u32,
  drop_p: f32,    // dropout probability on attention weights (0 = off)
  seed: u32,
  heads: u32,     // packed layout only: heads per row
  packed: u32,    // 1: tensors are [B, T, heads·D] (heads interleaved per position), 0: [BH, T, D]
  kv_rows: u32,   // rows allocated per head/batch in k and v (≥ s; a KV cache holds more than it uses)
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<act>;
@group(0) @binding(2) var<storage, read> k: array<kv_act>;
@group(0) @binding(3) var<storage, read> v: array<kv_act>;
@group(0) @binding(4) var<storage, read_write> o: array<act>;      // forward: out; backward: the saved out
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;
@group(0) @binding(6) var<storage, read> dout: array<act>;
@group(0) @binding(7) var<storage, read_write> dq: array<act>;
@group(0) @binding(8) var<storage, read_write> dkv: array<act>;

// Dropout keep-scale for weight (row i, key j) of head bh: 0 or 1/(1-p).
fn keep(bh: u32, i: u32, j: u32) -> f32 {
  if (p.drop_p <= 0.0) { return 1.0; }
  let u = uniform01(pcg(pcg(pcg(p.seed ^ 0x68e31da4u) + bh) + i * 0x9e3779b9u + j * 0x85ebca6bu));
  return select(0.0, 1.0 / (1.0 - p.drop_p), u >= p.drop_p);
}

// Element offset of row `i` (of `n` rows per head) of head `bh` in either layout.
fn row_offset(bh: u32, i: u32, n: u32) -> u32 {
  if (p.packed != 0u) {
    let b = bh / p.heads;
    let h = bh % p.heads;
    return ((b * n + i) * p.heads + h) * p.d;
  }
  return (bh * n + i) * p.d;
}

// One past the last key query row `i` sees.
fn last_key(i: u32) -> u32 {
  return select(p.s, i + 1u + p.s - p.t, p.causal != 0u);
}

// The first query row that sees key `j`.
fn first_query(j: u32) -> u32 {
  let shift = p.s - p.t;
  return select(0u, select(0u, j - shift, j > shift), p.causal != 0u);
}
