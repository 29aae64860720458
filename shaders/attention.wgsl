// Fused scaled-dot-product attention, flash-style: scores are never materialised. One invocation
// per (batch·head, row) streams over the keys with an online softmax, keeping its output row in
// registers; the forward saves the per-row log-sum-exp so the backward can recompute probabilities.
// Optional causal masking and attention dropout (a counter-based hash of (seed, b·h, i, j), so the
// backward regenerates exactly the forward's mask).
// q, o, dq: [BH, T, D]; k, v: [BH, S, D]. Causal masking is bottom-right aligned: query i sees keys
// j ≤ i + (S − T), so T < S is a decode step against a KV cache (T == S is ordinary self-attention).
// stats: [2, BH, T] = log-sum-exp per row, then D_i = dO_i·O_i (written by backward_q);
// dkv: [2, BH, S, D] = dK then dV. Eight storage bindings: the most every WebGPU device allows.
const WG: u32 = 64u;
const MAX_D: u32 = 128u;

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
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> o: array<f32>;      // forward: out; backward: the saved out
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;
@group(0) @binding(6) var<storage, read> dout: array<f32>;
@group(0) @binding(7) var<storage, read_write> dq: array<f32>;
@group(0) @binding(8) var<storage, read_write> dkv: array<f32>;

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

fn last_key(i: u32) -> u32 {
  return select(p.s, i + 1u + p.s - p.t, p.causal != 0u);
}

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = linear_index(gid, nwg, WG);
  if (r >= p.bh * p.t) { return; }
  let bh = r / p.t;
  let i = r % p.t;
  let qo = row_offset(bh, i, p.t);
  var acc: array<f32, MAX_D>;
  for (var c = 0u; c < p.d; c++) { acc[c] = 0.0; }
  var m = -3.0e38;
  var l = 0.0;
  let end = last_key(i);
  for (var j = 0u; j < end; j++) {
    let ko = row_offset(bh, j, p.kv_rows);
    var dot = 0.0;
    for (var c = 0u; c < p.d; c++) { dot += q[qo + c] * k[ko + c]; }
    let sc = dot * p.scale;
    let m_new = max(m, sc);
    let correction = exp(m - m_new);
    let w = exp(sc - m_new);
    l = l * correction + w;
    let wk = w * keep(bh, i, j);
    for (var c = 0u; c < p.d; c++) { acc[c] = acc[c] * correction + wk * v[ko + c]; }
    m = m_new;
  }
  let inv = select(0.0, 1.0 / l, l > 0.0);
  for (var c = 0u; c < p.d; c++) { o[qo + c] = acc[c] * inv; }
  stats[r] = m + log(l);
}

// dQ for one query row, and D_i = dO_i·O_i (saved for backward_kv).
@compute @workgroup_size(WG)
fn backward_q(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = linear_index(gid, nwg, WG);
  if (r >= p.bh * p.t) { return; }
  let bh = r / p.t;
  let i = r % p.t;
  let qo = row_offset(bh, i, p.t);
  var di = 0.0;
  for (var c = 0u; c < p.d; c++) { di += dout[qo + c] * o[qo + c]; }
  stats[p.bh * p.t + r] = di;
  var acc: array<f32, MAX_D>;
  for (var c = 0u; c < p.d; c++) { acc[c] = 0.0; }
  let lse_i = stats[r];
  let end = last_key(i);
  for (var j = 0u; j < end; j++) {
    let ko = row_offset(bh, j, p.kv_rows);
    var dot = 0.0;
    var dpv = 0.0;
    for (var c = 0u; c < p.d; c++) {
      dot += q[qo + c] * k[ko + c];
      dpv += dout[qo + c] * v[ko + c];
    }
    let prob = exp(dot * p.scale - lse_i);
    let ds = prob * (dpv * keep(bh, i, j) - di);
    for (var c = 0u; c < p.d; c++) { acc[c] += ds * k[ko + c]; }
  }
  for (var c = 0u; c < p.d; c++) { dq[qo + c] = acc[c] * p.scale; }
}

// dK and dV for one key row (needs D_i from backward_q).
@compute @workgroup_size(WG)
fn backward_kv(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = linear_index(gid, nwg, WG);
  if (r >= p.bh * p.s) { return; }
  let bh = r / p.s;
  let j = r % p.s;
  let ko = row_offset(bh, j, p.kv_rows);
  var acc_k: array<f32, MAX_D>;
  var acc_v: array<f32, MAX_D>;
  for (var c = 0u; c < p.d; c++) { acc_k[c] = 0.0; acc_v[c] = 0.0; }
  let shift = p.s - p.t;
  let first = select(0u, select(0u, j - shift, j > shift), p.causal != 0u);
  for (var i = first; i < p.t; i++) {
    let qr = bh * p.t + i;
    let qo = row_offset(bh, i, p.t);
    var dot = 0.0;
    var dpv = 0.0;
    for (var c = 0u; c < p.d; c++) {
      dot += q[qo + c] * k[ko + c];
      dpv += dout[qo + c] * v[ko + c];
    }
    let prob = exp(dot * p.scale - stats[qr]);
    let kp = keep(bh, i, j);
    let ds = prob * (dpv * kp - stats[p.bh * p.t + qr]);
    let z = prob * kp;
    for (var c = 0u; c < p.d; c++) {
      acc_k[c] += ds * q[qo + c];
      acc_v[c] += z * dout[qo + c];
    }
  }
  for (var c = 0u; c < p.d; c++) {
    dkv[ko + c] = acc_k[c] * p.scale;
    dkv[p.bh * p.kv_rows * p.d + ko + c] = acc_v[c];
  }
}
