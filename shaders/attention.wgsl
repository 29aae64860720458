// Fused scaled-dot-product attention, row kernel: scores are never materialised. One invocation per
// (batch·head, row) streams over the keys with an online softmax, keeping its output row in
// registers; the forward saves the per-row log-sum-exp so the backward can recompute probabilities.
// Optional causal masking and attention dropout (a counter-based hash of (seed, b·h, i, j), so the
// backward regenerates exactly the forward's mask). Params, bindings and helpers:
// shaders/attention_common.wgsl. Right for CPU adapters (no barriers, long independent loops); GPUs
// get the tiled kernel of shaders/attention_flash.wgsl (ops/variants.ts).
const WG: u32 = 64u;
const MAX_D: u32 = 128u;

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
    for (var c = 0u; c < p.d; c++) { dot += f32(q[qo + c]) * f32(k[ko + c]); }
    let sc = dot * p.scale;
    let m_new = max(m, sc);
    let correction = exp(m - m_new);
    let w = exp(sc - m_new);
    l = l * correction + w;
    let wk = w * keep(bh, i, j);
    for (var c = 0u; c < p.d; c++) { acc[c] = acc[c] * correction + wk * f32(v[ko + c]); }
    m = m_new;
  }
  let inv = select(0.0, 1.0 / l, l > 0.0);
  for (var c = 0u; c < p.d; c++) { o[qo + c] = act(acc[c] * inv); }
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
  for (var c = 0u; c < p.d; c++) { di += f32(dout[qo + c]) * f32(o[qo + c]); }
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
      dot += f32(q[qo + c]) * f32(k[ko + c]);
      dpv += f32(dout[qo + c]) * f32(v[ko + c]);
    }
    let prob = exp(dot * p.scale - lse_i);
    let ds = prob * (dpv * keep(bh, i, j) - di);
    for (var c = 0u; c < p.d; c++) { acc[c] += ds * f32(k[ko + c]); }
  }
  for (var c = 0u; c < p.d; c++) { dq[qo + c] = act(acc[c] * p.scale); }
}

// dK and dV for one key row (needs D_i from backward_q); zeros for the rows of a KV cache past S.
@compute @workgroup_size(WG)
fn backward_kv(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = linear_index(gid, nwg, WG);
  if (r >= p.bh * p.kv_rows) { return; }
  let bh = r / p.kv_rows;
  let j = r % p.kv_rows;
  let ko = row_offset(bh, j, p.kv_rows);
  var acc_k: array<f32, MAX_D>;
  var acc_v: array<f32, MAX_D>;
  for (var c = 0u; c < p.d; c++) { acc_k[c] = 0.0; acc_v[c] = 0.0; }
  let end = select(0u, p.t, j < p.s);
  for (var i = first_query(j); i < end; i++) {
    let qr = bh * p.t + i;
    let qo = row_offset(bh, i, p.t);
    var dot = 0.0;
    var dpv = 0.0;
    for (var c = 0u; c < p.d; c++) {
      dot += f32(q[qo + c]) * f32(k[ko + c]);
      dpv += f32(dout[qo + c]) * f32(v[ko + c]);
    }
    let prob = exp(dot * p.scale - stats[qr]);
    let kp = keep(bh, i, j);
    let ds = prob * (dpv * kp - stats[p.bh * p.t + qr]);
    let z = prob * kp;
    for (var c = 0u; c < p.d; c++) {
      acc_k[c] += ds * f32(q[qo + c]);
      acc_v[c] += z * f32(dout[qo + c]);
    }
  }
  for (var c = 0u; c < p.d; c++) {
    dkv[ko + c] = act(acc_k[c] * p.scale);
    dkv[p.bh * p.kv_rows * p.d + ko + c] = act(acc_v[c]);
  }
}
