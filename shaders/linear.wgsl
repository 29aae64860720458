// A linear layer over a few rows, prologue and epilogue included, in one dispatch (decoding: one or a
// few tokens per step, where launches, not arithmetic, set the pace):
//   y = act(norm(x)·Wᵀ + bias) + res
// x [m, k]; W [n, k] (PyTorch's [out, in]); norm: an optional LayerNorm of each row of x (biased
// variance, eps inside the root, the arithmetic of shaders/layernorm.wgsl). Each workgroup normalises
// its own rows into workgroup memory first (k values per row: little next to the weight block it
// reads), so the main loop reads one vec4 per row and step whether or not there is a norm.
//
// A workgroup computes ROWS rows of y (grid y: row blocks) for 4·QUADS·WG/SPLIT columns (grid x).
// Each thread owns QUADS column quads; SPLIT threads share a quad along k, each summing every
// SPLIT-th vec4 of k (on GPUs consecutive threads then read consecutive vec4s of a weight row), and
// add their partial sums through workgroup memory. CPU adapters use SPLIT = 1 and QUADS = 4: one
// load of an x row serves 16 columns. The last k % 4 terms are added after the vec4 steps.
//
// The bias, GELU and residual are switched by uniforms (one pipeline serves every layer of a model);
// the norm, which needs workgroup memory sized for it, by an override.
//
// Output rows can be remapped to write straight into a KV cache: row r of x (sequence r / t,
// position r % t) goes to row (r / t)·y_seq + y_row0 + r % t of y. A weight larger than one storage
// binding comes in launches of `n` columns from column col0, bound from its own (aligned) range.
//
// The weight's storage is the host's choice (ops/linear.ts): `w_word` holds four weights (vec4f, or
// four halves packed in a vec2u for f16 weights), `w_unpack` widens a word to f32 and `w_pick` one
// weight of it. Accumulation is f32 either way.
override HAS_NORM: bool = false;
override VEC_W: bool = true;  // weight rows start on vec4 boundaries (k % 4 == 0 and w_shift % 4 == 0)
override ROWS: u32 = 1u;      // rows of y per workgroup, 1..4
override QUADS: u32 = 1u;     // column quads per thread: 1, or 4 (CPU adapters)
override SPLIT: u32 = 1u;     // threads per column quad along k (a power of two dividing WG; QUADS = 1 when > 1)
override WG: u32 = 64u;       // a power of two
override XN: u32 = 1u;        // vec4s of normalised rows in workgroup memory: ROWS·⌈k/4⌉ with a norm, else 1
override PARTIALS: u32 = 1u;  // WG when SPLIT > 1, else 1
const GELU_C: f32 = 0.7978845608028654;  // sqrt(2/pi)

struct Params {
  m: u32,        // rows of x
  n: u32,        // output columns of this launch
  k: u32,        // input features
  eps: f32,      // norm
  w_shift: u32,  // element offset of this launch's first weight row inside the bound weight range
  col0: u32,     // first output column of this launch (bias and y/res column)
  ldy: u32,      // row stride of y and res (all the layer's columns)
  t: u32,        // rows of x per sequence
  y_seq: u32,    // rows of y per sequence
  y_row0: u32,   // row of y where each sequence's rows start
  has_bias: u32,
  gelu: u32,
  has_res: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> norm_w: array<f32>;
@group(0) @binding(3) var<storage, read> norm_b: array<f32>;
@group(0) @binding(4) var<storage, read> w: array<w_word>;
@group(0) @binding(5) var<storage, read> bias: array<f32>;
@group(0) @binding(6) var<storage, read> res: array<f32>;
@group(0) @binding(7) var<storage, read_write> y: array<f32>;

var<workgroup> sums: array<vec4f, WG>;
var<workgroup> xn: array<vec4f, XN>;
var<workgroup> partial: array<mat4x4f, PARTIALS>;

fn safe_tanh(v: f32) -> f32 {
  return tanh(clamp(v, -15.0, 15.0));
}

fn gelu(v: f32) -> f32 {
  return 0.5 * v * (1.0 + safe_tanh(GELU_C * (v + 0.044715 * v * v * v)));
}

fn w_elem(e: u32) -> f32 {
  return w_pick(w[e >> 2u], e & 3u);
}

// Weight row `col` (of this launch), elements kk..kk+3.
fn w4(col: u32, kk: u32) -> vec4f {
  let e = p.w_shift + col * p.k + kk;
  if (VEC_W) { return w_unpack(w[e >> 2u]); }
  return vec4f(w_elem(e), w_elem(e + 1u), w_elem(e + 2u), w_elem(e + 3u));
}

// Columns j..j+3 times the block's rows: column r of acc = row r's four outputs.
fn mac(acc: ptr<function, mat4x4f>, j: u32, kk: u32, a: mat4x4f) {
  mac_block(acc, a, mat4x4f(w4(j, kk), w4(j + 1u, kk), w4(j + 2u, kk), w4(j + 3u, kk)));
}

// The last k % 4 terms of columns j..j+3 (scalar loads).
fn tail(j: u32, k4: u32, rows: vec4u) -> mat4x4f {
  var t = mat4x4f();
  for (var kk = k4; kk < p.k; kk++) {
    let e = p.w_shift + j * p.k + kk;
    let wc = vec4f(w_elem(e), w_elem(e + p.k), w_elem(e + 2u * p.k), w_elem(e + 3u * p.k));
    for (var r = 0u; r < ROWS; r++) { t[r] += a1(r, rows[r], kk) * wc; }
  }
  return t;
}

// Bias, activation and residual, then the store of the in-range part of the thread's columns
// j..j+4·QUADS−1 (acc[q]: quad q). The loops have run-time bounds, so the epilogue is compiled once,
// not once per row, column and quad (shader compilers unroll constant loops).
fn finish(j: u32, i0: u32, acc: array<mat4x4f, 4>) {
  let rows = min(ROWS, p.m - i0);
  let cols = min(4u * QUADS, p.n - j);
  for (var r = 0u; r < rows; r++) {
    let row = i0 + r;
    let out_row = out_row_of(row);
    for (var c = 0u; c < cols; c++) {
      let col = p.col0 + j + c;
      var v = acc[c / 4u][r][c % 4u];
      if (p.has_bias != 0u) { v = v + bias[col]; }
      if (p.gelu != 0u) { v = gelu(v); }
      if (p.has_res != 0u) { v = res[row * p.ldy + col] + v; }
      y[out_row * p.ldy + col] = v;
    }
  }
}

@compute @workgroup_size(WG)
fn forward(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let i0 = wid.y * ROWS;
  let rows = block_rows(lid, i0);

  let slice = lid % SPLIT;
  let j = (wid.x * (WG / SPLIT) + lid / SPLIT) * 4u * QUADS;
  let k4 = p.k - p.k % 4u;
  var acc0 = mat4x4f(); var acc1 = mat4x4f(); var acc2 = mat4x4f(); var acc3 = mat4x4f();
  if (j < p.n) {
    for (var kk = slice * 4u; kk < k4; kk += SPLIT * 4u) {
      let a = a_block(rows, kk);
      mac(&acc0, j, kk, a);
      if (QUADS > 1u) {
        mac(&acc1, j + 4u, kk, a);
        mac(&acc2, j + 8u, kk, a);
        mac(&acc3, j + 12u, kk, a);
      }
    }
    if (slice == 0u && k4 < p.k) {
      acc0 += tail(j, k4, rows);
      if (QUADS > 1u) {
        acc1 += tail(j + 4u, k4, rows);
        acc2 += tail(j + 8u, k4, rows);
        acc3 += tail(j + 12u, k4, rows);
      }
    }
  }
  if (SPLIT > 1u) {
    // The SPLIT partial sums of each quad, added in slice order.
    partial[lid] = acc0;
    workgroupBarrier();
    if (slice == 0u) {
      for (var s = 1u; s < SPLIT; s++) { acc0 += partial[lid + s]; }
    }
  }
  if (slice != 0u || j >= p.n) { return; }
  finish(j, i0, array<mat4x4f, 4>(acc0, acc1, acc2, acc3));
}
