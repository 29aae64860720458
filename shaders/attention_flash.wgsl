// Fused scaled-dot-product attention, tiled (FlashAttention-2 style) for GPUs: a workgroup takes a
// block of BR query rows of one head and walks the keys in tiles staged through workgroup memory, so
// each K/V element is read from storage once per block instead of once per query row. Same Params,
// bindings, dropout hash and results as the row kernel (shaders/attention.wgsl; shared part in
// shaders/attention_common.wgsl), to rounding.
//
// Threads: TPR = 4 per row (BR·TPR = 64). A thread owns the head-dimension columns c ≡ part (mod TPR)
// of its row: up to CPT = MAX_D/TPR accumulators in registers (constant-bound loops, so they unroll).
// Scores of a tile are computed a (row, key) pair per thread over the full head dimension, from the
// staged (pre-scaled) Q block and K tile, into a small score tile; every thread of a row then applies
// the online softmax for its columns.
//   forward:     per key tile: S = (Q·scale)Kᵀ, m' = max(m, rowmax S), P = exp(S − m'), l = l·e^(m−m') + ΣP,
//                acc = acc·e^(m−m') + (P∘keep)·V;  O = acc/l, lse = m + log l.
//   backward_q:  D_i = dO_i·O_i (saved in stats); per key tile: P = exp(S − lse), dS = P∘(dO·Vᵀ∘keep − D),
//                dQ += dS·K;  dQ·scale.
//   backward_kv: a block of BR key rows; per query tile: P and dS as above (transposed),
//                dV += (P∘keep)ᵀ·dO, dK += dSᵀ·(Q·scale). Rows of a KV cache past S get zeros.
// Causal: a block stops at the last key its last row sees (forward, backward_q) or starts at the first
// query its first key is seen by (backward_kv); pairs past the diagonal inside a tile are masked.
// Workgroup memory: 25,600 B (forward), 25,600 B (backward_q), 25,664 B (backward_kv, with row_stats):
// the op checks the device's maxComputeWorkgroupStorageSize against the largest (FLASH_BYTES).
const BR: u32 = 16u;    // query rows (key rows in backward_kv) per workgroup
const TPR: u32 = 4u;    // threads per row
const WG: u32 = 64u;    // BR · TPR
const BC: u32 = 16u;    // keys per tile (forward)
const BCB: u32 = 8u;    // keys per tile (backward_q), queries per tile (backward_kv)
const MAX_D: u32 = 128u;
const CPT: u32 = 32u;   // MAX_D / TPR: columns per thread
const LOWEST: f32 = -3.0e38;

var<workgroup> tile_a: array<f32, 2048>;   // BR × MAX_D: Q block (forward, backward_q), K block (backward_kv)
var<workgroup> tile_b: array<f32, 2048>;   // forward: K tile; backward_q: dO block; backward_kv: V block
var<workgroup> tile_c: array<f32, 2048>;   // forward: V tile; backward: the K/V or Q/dO tile (BCB rows each)
var<workgroup> scores: array<f32, 256>;    // BR × BC scores; backward: P and dS (BR × BCB each)
var<workgroup> row_stats: array<f32, 16>;  // backward_kv: lse and D of the query tile (BCB each)

// Stages rows [first, first + n) of `which` (0 q, 1 k, 2 v, 3 dout) of head bh into a tile, `n_rows`
// rows per head in that tensor, rows past `limit` zero, times `scale`.
fn stage(which: u32, tile: u32, tid: u32, bh: u32, first: u32, n: u32, limit: u32, n_rows: u32, scale: f32) {
  for (var e = tid; e < n * p.d; e += WG) {
    let r = e / p.d;
    let c = e % p.d;
    let row = first + r;
    var value = 0.0;
    if (row < limit) {
      let at = row_offset(bh, row, n_rows) + c;
      switch which {
        case 0u: { value = f32(q[at]); }
        case 1u: { value = f32(k[at]); }
        case 2u: { value = f32(v[at]); }
        default: { value = f32(dout[at]); }
      }
    }
    let slot = r * MAX_D + c;
    switch tile {
      case 0u: { tile_a[slot] = value * scale; }
      case 1u: { tile_b[slot] = value * scale; }
      default: { tile_c[slot] = value * scale; }
    }
  }
}

// Block index and head of this workgroup (uniform): `blocks` blocks of BR rows per head.
fn block_of(wid: vec3u, nwg: vec3u, blocks: u32) -> vec2u {
  let g = group_index(wid, nwg);
  return vec2u(g / blocks, (g % blocks) * BR);
}

@compute @workgroup_size(WG)
fn forward(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let block = block_of(wid, nwg, (p.t + BR - 1u) / BR);
  let bh = block.x;
  let i0 = block.y;
  if (bh >= p.bh) { return; }
  let r = tid / TPR;
  let part = tid % TPR;
  let i = i0 + r;
  let live = i < p.t;
  let mine = select(0u, last_key(i), live);          // keys this row sees
  let end = last_key(min(i0 + BR, p.t) - 1u);        // keys any row of the block sees (uniform)
  stage(0u, 0u, tid, bh, i0, BR, p.t, p.t, p.scale);
  var acc: array<f32, CPT>;
  for (var n = 0u; n < CPT; n++) { acc[n] = 0.0; }
  var m = LOWEST;
  var l = 0.0;
  for (var j0 = 0u; j0 < end; j0 += BC) {
    workgroupBarrier();  // the previous tile has been read
    stage(1u, 1u, tid, bh, j0, BC, end, p.kv_rows, 1.0);
    stage(2u, 2u, tid, bh, j0, BC, end, p.kv_rows, 1.0);
    workgroupBarrier();
    for (var n = 0u; n < BC / TPR; n++) {
      let jl = part + TPR * n;
      var dot = 0.0;
      for (var c = 0u; c < p.d; c++) { dot += tile_a[r * MAX_D + c] * tile_b[jl * MAX_D + c]; }
      scores[r * BC + jl] = dot;
    }
    workgroupBarrier();
    var tile_max = m;
    for (var jl = 0u; jl < BC; jl++) {
      if (j0 + jl < mine) { tile_max = max(tile_max, scores[r * BC + jl]); }
    }
    let correction = exp(m - tile_max);
    l *= correction;
    for (var n = 0u; n < CPT; n++) { acc[n] *= correction; }
    for (var jl = 0u; jl < BC; jl++) {
      if (j0 + jl < mine) {
        let w = exp(scores[r * BC + jl] - tile_max);
        l += w;
        let wk = w * keep(bh, i, j0 + jl);
        for (var n = 0u; n < CPT; n++) {
          let c = part + TPR * n;
          if (c < p.d) { acc[n] += wk * tile_c[jl * MAX_D + c]; }
        }
      }
    }
    m = tile_max;
  }
  if (!live) { return; }
  let qo = row_offset(bh, i, p.t);
  let inv = select(0.0, 1.0 / l, l > 0.0);
  for (var n = 0u; n < CPT; n++) {
    let c = part + TPR * n;
    if (c < p.d) { o[qo + c] = act(acc[n] * inv); }
  }
  if (part == 0u) { stats[bh * p.t + i] = m + log(l); }
}

// dQ for a block of query rows, and D_i = dO_i·O_i (saved for backward_kv).
@compute @workgroup_size(WG)
fn backward_q(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let block = block_of(wid, nwg, (p.t + BR - 1u) / BR);
  let bh = block.x;
  let i0 = block.y;
  if (bh >= p.bh) { return; }
  let r = tid / TPR;
  let part = tid % TPR;
  let i = i0 + r;
  let live = i < p.t;
  let mine = select(0u, last_key(i), live);
  let end = last_key(min(i0 + BR, p.t) - 1u);
  stage(0u, 0u, tid, bh, i0, BR, p.t, p.t, p.scale);
  stage(3u, 1u, tid, bh, i0, BR, p.t, p.t, 1.0);
  // D_i: each thread's columns of dO·O, the row's TPR parts summed through `scores`.
  var part_d = 0.0;
  if (live) {
    let qo = row_offset(bh, i, p.t);
    for (var n = 0u; n < CPT; n++) {
      let c = part + TPR * n;
      if (c < p.d) { part_d += f32(dout[qo + c]) * f32(o[qo + c]); }
    }
  }
  scores[tid] = part_d;
  workgroupBarrier();
  var di = 0.0;
  for (var u = 0u; u < TPR; u++) { di += scores[r * TPR + u]; }
  let lse_i = select(0.0, stats[bh * p.t + min(i, p.t - 1u)], live);
  if (live && part == 0u) { stats[p.bh * p.t + bh * p.t + i] = di; }
  var acc: array<f32, CPT>;
  for (var n = 0u; n < CPT; n++) { acc[n] = 0.0; }
  for (var j0 = 0u; j0 < end; j0 += BCB) {
    workgroupBarrier();  // `scores` and the previous tile have been read
    // K and V tiles side by side in tile_c: rows [0, BCB) keys, [BCB, 2·BCB) values.
    stage(1u, 2u, tid, bh, j0, BCB, end, p.kv_rows, 1.0);
    for (var e = tid; e < BCB * p.d; e += WG) {
      let row = j0 + e / p.d;
      tile_c[(BCB + e / p.d) * MAX_D + e % p.d] = select(0.0, f32(v[row_offset(bh, min(row, end - 1u), p.kv_rows) + e % p.d]), row < end);
    }
    workgroupBarrier();
    for (var n = 0u; n < BCB / TPR; n++) {
      let jl = part + TPR * n;
      var dot = 0.0;
      var dpv = 0.0;
      for (var c = 0u; c < p.d; c++) {
        dot += tile_a[r * MAX_D + c] * tile_c[jl * MAX_D + c];
        dpv += tile_b[r * MAX_D + c] * tile_c[(BCB + jl) * MAX_D + c];
      }
      var ds = 0.0;
      if (j0 + jl < mine) {
        let prob = exp(dot - lse_i);
        ds = prob * (dpv * keep(bh, i, j0 + jl) - di);
      }
      scores[r * BCB + jl] = ds;
    }
    workgroupBarrier();
    for (var jl = 0u; jl < BCB; jl++) {
      let ds = scores[r * BCB + jl];
      for (var n = 0u; n < CPT; n++) {
        let c = part + TPR * n;
        if (c < p.d) { acc[n] += ds * tile_c[jl * MAX_D + c]; }
      }
    }
  }
  if (!live) { return; }
  let qo = row_offset(bh, i, p.t);
  for (var n = 0u; n < CPT; n++) {
    let c = part + TPR * n;
    if (c < p.d) { dq[qo + c] = act(acc[n] * p.scale); }
  }
}

// dK and dV for a block of key rows (needs D_i from backward_q); rows of a KV cache past S get zeros.
@compute @workgroup_size(WG)
fn backward_kv(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let block = block_of(wid, nwg, (p.kv_rows + BR - 1u) / BR);
  let bh = block.x;
  let j0 = block.y;
  if (bh >= p.bh) { return; }
  let r = tid / TPR;
  let part = tid % TPR;
  let j = j0 + r;
  stage(1u, 0u, tid, bh, j0, BR, p.s, p.kv_rows, 1.0);
  stage(2u, 1u, tid, bh, j0, BR, p.s, p.kv_rows, 1.0);
  var acc_k: array<f32, CPT>;
  var acc_v: array<f32, CPT>;
  for (var n = 0u; n < CPT; n++) { acc_k[n] = 0.0; acc_v[n] = 0.0; }
  // Queries that see any key of the block (uniform): none when the block starts past S.
  let start = select(p.t, first_query(j0), j0 < p.s);
  for (var i0 = start - start % BCB; i0 < p.t; i0 += BCB) {
    workgroupBarrier();  // the previous tile has been read
    // Q (scaled) and dO tiles side by side in tile_c: rows [0, BCB) and [BCB, 2·BCB).
    stage(0u, 2u, tid, bh, i0, BCB, p.t, p.t, p.scale);
    for (var e = tid; e < BCB * p.d; e += WG) {
      let row = i0 + e / p.d;
      tile_c[(BCB + e / p.d) * MAX_D + e % p.d] = select(0.0, f32(dout[row_offset(bh, min(row, p.t - 1u), p.t) + e % p.d]), row < p.t);
    }
    if (tid < BCB) {
      let row = min(i0 + tid, p.t - 1u);
      row_stats[tid] = stats[bh * p.t + row];
      row_stats[BCB + tid] = stats[p.bh * p.t + bh * p.t + row];
    }
    workgroupBarrier();
    for (var n = 0u; n < BCB / TPR; n++) {
      let il = part + TPR * n;
      let qi = i0 + il;
      var dot = 0.0;
      var dpv = 0.0;
      for (var c = 0u; c < p.d; c++) {
        dot += tile_c[il * MAX_D + c] * tile_a[r * MAX_D + c];
        dpv += tile_c[(BCB + il) * MAX_D + c] * tile_b[r * MAX_D + c];
      }
      var z = 0.0;
      var ds = 0.0;
      if (qi < p.t && j < last_key(qi)) {
        let prob = exp(dot - row_stats[il]);
        let kp = keep(bh, qi, j);
        z = prob * kp;
        ds = prob * (dpv * kp - row_stats[BCB + il]);
      }
      scores[r * BCB + il] = z;
      scores[BR * BCB + r * BCB + il] = ds;
    }
    workgroupBarrier();
    for (var il = 0u; il < BCB; il++) {
      let z = scores[r * BCB + il];
      let ds = scores[BR * BCB + r * BCB + il];
      for (var n = 0u; n < CPT; n++) {
        let c = part + TPR * n;
        if (c < p.d) {
          acc_v[n] += z * tile_c[(BCB + il) * MAX_D + c];
          acc_k[n] += ds * tile_c[il * MAX_D + c];
        }
      }
    }
  }
  if (j >= p.kv_rows) { return; }
  let ko = row_offset(bh, j, p.kv_rows);
  for (var n = 0u; n < CPT; n++) {
    let c = part + TPR * n;
    if (c < p.d) {
      dkv[ko + c] = act(acc_k[n]);
      dkv[p.bh * p.kv_rows * p.d + ko + c] = act(acc_v[n]);
    }
  }
}
