// Layer normalisation over the last axis of x [rows, C] (PyTorch semantics: biased variance, eps
// inside the square root), llm.c style: the forward saves mean and rstd per row for the backward.
//   forward:         y = (x − mean)·rstd·w + b;  stats = [mean (rows), rstd (rows)]
//   backward_dx:     x̂ = (x − mean)·rstd, g = dy·w,  dx = rstd·(g − mean(g) − x̂·mean(g·x̂))
//   backward_params: partial column sums over a chunk of `rows_per_chunk` rows:
//                    dw_part[chunk, c] = Σ dy·x̂,  db_part[chunk, c] = Σ dy (the host sums the chunks)
// Row entries give each row a segment of `tpr` threads (a power of two; 256/tpr rows per workgroup, a
// whole workgroup for a long row): two-pass mean/variance with sums inside the segment (segment_sum).
// backward_params runs one thread per (chunk, column), so neighbouring threads read neighbouring columns.
// `act`: the storage type of x, out and dy (f32, or f16 with shader-f16; ops/variants.ts); weight,
// bias, stats and the parameter gradients stay f32, and so does the math.
override HAS_WEIGHT: bool = true;
override HAS_BIAS: bool = true;
const WG: u32 = 256u;

struct Params {
  rows: u32,
  c: u32,
  eps: f32,
  rows_per_chunk: u32,
  tpr: u32,  // threads per row
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<act>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<act>;    // forward: y; backward_dx: dx
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;  // [2, rows]: mean, then rstd
@group(0) @binding(6) var<storage, read> dy: array<act>;
@group(0) @binding(7) var<storage, read_write> dw_part: array<f32>;
@group(0) @binding(8) var<storage, read_write> db_part: array<f32>;

fn w_at(j: u32) -> f32 {
  if (HAS_WEIGHT) { return weight[j]; }
  return 1.0;
}

@compute @workgroup_size(WG)
fn forward(inv: RowInvocation, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let tid = row_thread(inv);  // rows.wgsl (or rows_subgroups.wgsl)
  let at = slot(group_index(wid, nwg), tid, p.tpr, p.rows, WG);
  let base = at.row * p.c;
  let inv_c = 1.0 / f32(p.c);

  var s = 0.0;
  if (at.live) {
    for (var j = at.lane; j < p.c; j += p.tpr) { s += f32(x[base + j]); }
  }
  let mean = segment_sum(tid, at.lane, p.tpr, s, 0.0).x * inv_c;

  var q = 0.0;
  if (at.live) {
    for (var j = at.lane; j < p.c; j += p.tpr) {
      let d = f32(x[base + j]) - mean;
      q += d * d;
    }
  }
  let var_sum = segment_sum(tid, at.lane, p.tpr, q, 0.0).x;
  if (!at.live) { return; }
  let rstd = inverseSqrt(var_sum * inv_c + p.eps);

  for (var j = at.lane; j < p.c; j += p.tpr) {
    var v = (f32(x[base + j]) - mean) * rstd * w_at(j);
    if (HAS_BIAS) { v += bias[j]; }
    out[base + j] = act(v);
  }
  if (at.lane == 0u) {
    stats[at.row] = mean;
    stats[p.rows + at.row] = rstd;
  }
}

@compute @workgroup_size(WG)
fn backward_dx(inv: RowInvocation, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let tid = row_thread(inv);  // rows.wgsl (or rows_subgroups.wgsl)
  let at = slot(group_index(wid, nwg), tid, p.tpr, p.rows, WG);
  let base = at.row * p.c;
  var mean = 0.0;
  var rstd = 0.0;
  var sg = 0.0;
  var sgx = 0.0;
  if (at.live) {
    mean = stats[at.row];
    rstd = stats[p.rows + at.row];
    for (var j = at.lane; j < p.c; j += p.tpr) {
      let xhat = (f32(x[base + j]) - mean) * rstd;
      let g = f32(dy[base + j]) * w_at(j);
      sg += g;
      sgx += g * xhat;
    }
  }
  let sums = segment_sum(tid, at.lane, p.tpr, sg, sgx);
  if (!at.live) { return; }
  let inv_c = 1.0 / f32(p.c);
  let mean_g = sums.x * inv_c;
  let mean_gx = sums.y * inv_c;

  for (var j = at.lane; j < p.c; j += p.tpr) {
    let xhat = (f32(x[base + j]) - mean) * rstd;
    let g = f32(dy[base + j]) * w_at(j);
    out[base + j] = act(rstd * (g - mean_g - xhat * mean_gx));
  }
}

@compute @workgroup_size(WG)
fn backward_params(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = linear_index(gid, nwg, WG);
  let chunks = (p.rows + p.rows_per_chunk - 1u) / p.rows_per_chunk;
  if (t >= chunks * p.c) { return; }
  let chunk = t / p.c;
  let col = t % p.c;
  let first = chunk * p.rows_per_chunk;
  let last = min(first + p.rows_per_chunk, p.rows);
  var sw = 0.0;
  var sb = 0.0;
  for (var row = first; row < last; row++) {
    let i = row * p.c + col;
    let g = f32(dy[i]);
    sw += g * (f32(x[i]) - stats[row]) * stats[p.rows + row];
    sb += g;
  }
  if (HAS_WEIGHT) { dw_part[t] = sw; }
  if (HAS_BIAS) { db_part[t] = sb; }
}
