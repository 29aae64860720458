// Shared by the fused linear kernels (shaders/linear.wgsl, shaders/qkv.wgsl): reading the block's rows
// of x and LayerNorm-ing them into workgroup memory. Append it with `with`. The kernel declares what
// this reads: `p` (with k and eps), `x`, `norm_w`, `norm_b`, the workgroup arrays `sums` [WG] and
// `xn` [XN], and the overrides WG, ROWS and HAS_NORM.

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
