// Shared by the fused linear kernels (shaders/linear.wgsl, shaders/qkv.wgsl): the workgroup's block
// of rows, reading them from x and LayerNorm-ing them into workgroup memory, the multiply-accumulate of
// the block's rows with four weight rows, and the output row of an x row (KV-cache remapping). Append
// it with `with`. The kernel declares what this reads: `p` (with m, k, eps, t, y_seq and y_row0), `x`,
// `norm_w`, `norm_b`, the workgroup arrays `sums` [WG] and `xn` [XN], and the overrides WG, ROWS and
// HAS_NORM.

// Sum of v over the workgroup, per lane (lane r = row r), a tree in workgroup memory.
fn workgroup_sum(lid: u32, v: vec4f) -> vec4f {
  sums[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lid < s) { sums[lid] += sums[lid + s]; }
    workgroupBarrier();
  }
  let total = sums[0];
  workgroupBarrier();
  return total;
}

fn x_at(row: u32, kk: u32) -> f32 {
  return x[row * p.k + kk];
}

fn x_rows(rows: vec4u, kk: u32) -> vec4f {
  return vec4f(x_at(rows.x, kk), x_at(rows.y, kk), x_at(rows.z, kk), x_at(rows.w, kk));
}

// LayerNorm of the workgroup's rows (mean, then the variance around it) into xn[r·⌈k/4⌉ + kk/4].
fn normalize_rows(lid: u32, rows: vec4u) {
  let inv_k = 1.0 / f32(p.k);
  var s = vec4f();
  for (var kk = lid; kk < p.k; kk += WG) { s += x_rows(rows, kk); }
  let mean = workgroup_sum(lid, s) * inv_k;
  var q = vec4f();
  for (var kk = lid; kk < p.k; kk += WG) {
    let d = x_rows(rows, kk) - mean;
    q += d * d;
  }
  let rstd = inverseSqrt(workgroup_sum(lid, q) * inv_k + p.eps);
  let kv = (p.k + 3u) / 4u;
  for (var i = lid; i < ROWS * kv; i += WG) {
    let r = i / kv;
    var v = vec4f();
    for (var c = 0u; c < 4u; c++) {
      let e = (i % kv) * 4u + c;
      if (e < p.k) { v[c] = (x_at(rows[r], e) - mean[r]) * rstd[r] * norm_w[e] + norm_b[e]; }
    }
    xn[i] = v;
  }
  workgroupBarrier();
}

// The x rows of the workgroup's block from row i0 (rows past m re-read row m − 1 and are never
// stored), normalised into workgroup memory first with a norm.
fn block_rows(lid: u32, i0: u32) -> vec4u {
  let last = p.m - 1u;
  let rows = vec4u(min(i0, last), min(i0 + 1u, last), min(i0 + 2u, last), min(i0 + 3u, last));
  if (HAS_NORM) { normalize_rows(lid, rows); }
  return rows;
}

// Input row r of the block (x row `row`), elements kk..kk+3 (kk a multiple of 4).
fn a4(r: u32, row: u32, kk: u32) -> vec4f {
  if (HAS_NORM) { return xn[r * ((p.k + 3u) / 4u) + kk / 4u]; }
  let e = row * p.k + kk;
  return vec4f(x[e], x[e + 1u], x[e + 2u], x[e + 3u]);
}

fn a1(r: u32, row: u32, kk: u32) -> f32 {
  if (HAS_NORM) { return xn[r * ((p.k + 3u) / 4u) + kk / 4u][kk % 4u]; }
  return x_at(row, kk);
}

// Elements kk..kk+3 of the block's input rows: column r = row r (rows past ROWS left zero).
fn a_block(rows: vec4u, kk: u32) -> mat4x4f {
  var a = mat4x4f();
  a[0] = a4(0u, rows.x, kk);
  if (ROWS > 1u) { a[1] = a4(1u, rows.y, kk); }
  if (ROWS > 2u) { a[2] = a4(2u, rows.z, kk); }
  if (ROWS > 3u) { a[3] = a4(3u, rows.w, kk); }
  return a;
}

// acc column r += row r of `a` times the four weight rows `wm` (column c = weight row c).
fn mac_block(acc: ptr<function, mat4x4f>, a: mat4x4f, wm: mat4x4f) {
  (*acc)[0] += a[0] * wm;
  if (ROWS > 1u) { (*acc)[1] += a[1] * wm; }
  if (ROWS > 2u) { (*acc)[2] += a[2] * wm; }
  if (ROWS > 3u) { (*acc)[3] += a[3] * wm; }
}

// The output row of x row `row` (sequence row / t, position row % t): y_seq rows per sequence, the
// new ones from y_row0 (a KV cache), or row itself when t = y_seq and y_row0 = 0.
fn out_row_of(row: u32) -> u32 {
  return (row / p.t) * p.y_seq + p.y_row0 + row % p.t;
}
