// The query, key and value projections of one attention layer in one dispatch (decoding):
//   q = norm(x)·Wqᵀ + bq,  k = norm(x)·Wkᵀ + bk,  v = norm(x)·Wvᵀ + bv
// with the block's LayerNorm computed inside (each workgroup normalises its rows into workgroup
// memory first, as shaders/linear.wgsl does), q written to its own [m, n] tensor and k, v written straight into the KV cache rows of the
// new positions (row r of x, position r % t of sequence r / t, goes to cache row
// (r / t)·y_seq + y_row0 + r % t). Each thread owns one column quad of all three projections, so one
// load of a normalised x row serves twelve columns; otherwise shaders/linear.wgsl's layout: ROWS rows
// per workgroup, SPLIT threads per quad along k. Twelve storage bindings: the host falls back to
// three linear launches where the device allows fewer. `kv_act` is the caches' storage type (f32, or
// f16 for an f16 KV cache: converted on the store, one of the two nearest halves; an alias the host
// supplies, ops/variants.ts).
// The weights' storage is the host's choice too (ops/linear.ts): `w_word` holds four weights (f32, or
// packed halves for f16 weights), `w_unpack` widens a word to f32, `w_pick` one weight of it.
override HAS_NORM: bool = false;
override VEC_W: bool = true;  // weight rows start on vec4 boundaries (k % 4 == 0)
override ROWS: u32 = 1u;      // rows of x per workgroup, 1..4
override SPLIT: u32 = 1u;     // threads per column quad along k (a power of two dividing WG)
override WG: u32 = 64u;       // a power of two
override XN: u32 = 1u;        // vec4s of normalised rows in workgroup memory: ROWS·⌈k/4⌉ with a norm, else 1
override PARTIALS: u32 = 1u;  // WG when SPLIT > 1, else 1

struct Params {
  m: u32,        // rows of x
  n: u32,        // output features
  k: u32,        // input features
  eps: f32,      // norm
  t: u32,        // rows of x per sequence
  y_seq: u32,    // rows of the cache per sequence
  y_row0: u32,   // cache row where each sequence's new rows start
  has_bias: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> norm_w: array<f32>;
@group(0) @binding(3) var<storage, read> norm_b: array<f32>;
@group(0) @binding(4) var<storage, read> wq: array<w_word>;
@group(0) @binding(5) var<storage, read> wk: array<w_word>;
@group(0) @binding(6) var<storage, read> wv: array<w_word>;
@group(0) @binding(7) var<storage, read> bq: array<f32>;
@group(0) @binding(8) var<storage, read> bk: array<f32>;
@group(0) @binding(9) var<storage, read> bv: array<f32>;
@group(0) @binding(10) var<storage, read_write> q: array<f32>;
@group(0) @binding(11) var<storage, read_write> k_cache: array<kv_act>;
@group(0) @binding(12) var<storage, read_write> v_cache: array<kv_act>;

var<workgroup> sums: array<vec4f, WG>;
var<workgroup> xn: array<vec4f, XN>;
var<workgroup> partial: array<array<mat4x4f, 3>, PARTIALS>;

// Rows j..j+3 of each weight at elements kk..kk+3, as matrices (column c = weight row j + c).
fn load_q(j: u32, kk: u32) -> mat4x4f {
  let e = j * p.k + kk;
  if (VEC_W) { return mat4x4f(w_unpack(wq[e >> 2u]), w_unpack(wq[(e + p.k) >> 2u]), w_unpack(wq[(e + 2u * p.k) >> 2u]), w_unpack(wq[(e + 3u * p.k) >> 2u])); }
  var m = mat4x4f();
  for (var c = 0u; c < 4u; c++) { for (var i = 0u; i < 4u; i++) { let f = e + c * p.k + i; m[c][i] = w_pick(wq[f >> 2u], f & 3u); } }
  return m;
}

fn load_k(j: u32, kk: u32) -> mat4x4f {
  let e = j * p.k + kk;
  if (VEC_W) { return mat4x4f(w_unpack(wk[e >> 2u]), w_unpack(wk[(e + p.k) >> 2u]), w_unpack(wk[(e + 2u * p.k) >> 2u]), w_unpack(wk[(e + 3u * p.k) >> 2u])); }
  var m = mat4x4f();
  for (var c = 0u; c < 4u; c++) { for (var i = 0u; i < 4u; i++) { let f = e + c * p.k + i; m[c][i] = w_pick(wk[f >> 2u], f & 3u); } }
  return m;
}

fn load_v(j: u32, kk: u32) -> mat4x4f {
  let e = j * p.k + kk;
  if (VEC_W) { return mat4x4f(w_unpack(wv[e >> 2u]), w_unpack(wv[(e + p.k) >> 2u]), w_unpack(wv[(e + 2u * p.k) >> 2u]), w_unpack(wv[(e + 3u * p.k) >> 2u])); }
  var m = mat4x4f();
  for (var c = 0u; c < 4u; c++) { for (var i = 0u; i < 4u; i++) { let f = e + c * p.k + i; m[c][i] = w_pick(wv[f >> 2u], f & 3u); } }
  return m;
}

// Bias, then the store of the in-range part of columns j..j+3 of the three projections (q: row by
// row; k, v: cache rows). Run-time loop bounds: compiled once, not unrolled per row and column.
fn finish(j: u32, i0: u32, acc: array<mat4x4f, 3>) {
  let rows = min(ROWS, p.m - i0);
  let cols = min(4u, p.n - j);
  for (var r = 0u; r < rows; r++) {
    let row = i0 + r;
    let cache_row = out_row_of(row);
    for (var c = 0u; c < cols; c++) {
      let col = j + c;
      var vq = acc[0][r][c];
      var vk = acc[1][r][c];
      var vv = acc[2][r][c];
      if (p.has_bias != 0u) {
        vq = vq + bq[col];
        vk = vk + bk[col];
        vv = vv + bv[col];
      }
      q[row * p.n + col] = vq;
      k_cache[cache_row * p.n + col] = kv_act(vk);
      v_cache[cache_row * p.n + col] = kv_act(vv);
    }
  }
}

@compute @workgroup_size(WG)
fn forward(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let i0 = wid.y * ROWS;
  let rows = block_rows(lid, i0);

  let slice = lid % SPLIT;
  let j = (wid.x * (WG / SPLIT) + lid / SPLIT) * 4u;
  let k4 = p.k - p.k % 4u;
  var acc_q = mat4x4f(); var acc_k = mat4x4f(); var acc_v = mat4x4f();
  if (j < p.n) {
    for (var kk = slice * 4u; kk < k4; kk += SPLIT * 4u) {
      let a = a_block(rows, kk);
      mac_block(&acc_q, a, load_q(j, kk));
      mac_block(&acc_k, a, load_k(j, kk));
      mac_block(&acc_v, a, load_v(j, kk));
    }
    // The last k % 4 terms (scalar loads), by the quad's first thread.
    if (slice == 0u) {
      for (var kk = k4; kk < p.k; kk++) {
        let e = j * p.k + kk;
        let e1 = e + p.k;
        let e2 = e + 2u * p.k;
        let e3 = e + 3u * p.k;
        let cq = vec4f(w_pick(wq[e >> 2u], e & 3u), w_pick(wq[e1 >> 2u], e1 & 3u), w_pick(wq[e2 >> 2u], e2 & 3u), w_pick(wq[e3 >> 2u], e3 & 3u));
        let ck = vec4f(w_pick(wk[e >> 2u], e & 3u), w_pick(wk[e1 >> 2u], e1 & 3u), w_pick(wk[e2 >> 2u], e2 & 3u), w_pick(wk[e3 >> 2u], e3 & 3u));
        let cv = vec4f(w_pick(wv[e >> 2u], e & 3u), w_pick(wv[e1 >> 2u], e1 & 3u), w_pick(wv[e2 >> 2u], e2 & 3u), w_pick(wv[e3 >> 2u], e3 & 3u));
        for (var r = 0u; r < ROWS; r++) {
          let a = a1(r, rows[r], kk);
          acc_q[r] += a * cq;
          acc_k[r] += a * ck;
          acc_v[r] += a * cv;
        }
      }
    }
  }
  if (SPLIT > 1u) {
    // The SPLIT partial sums of each quad, added in slice order.
    partial[lid] = array<mat4x4f, 3>(acc_q, acc_k, acc_v);
    workgroupBarrier();
    if (slice == 0u) {
      for (var s = 1u; s < SPLIT; s++) {
        acc_q += partial[lid + s][0];
        acc_k += partial[lid + s][1];
        acc_v += partial[lid + s][2];
      }
    }
  }
  if (slice != 0u || j >= p.n) { return; }
  finish(j, i0, array<mat4x4f, 3>(acc_q, acc_k, acc_v));
}
