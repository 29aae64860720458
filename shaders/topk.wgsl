// Top-k along the last axis: one workgroup per row makes k passes; each round finds, by a parallel
// reduction, the next element in (value descending, index ascending) order — ties keep the lower index.
const WG: u32 = 256u;
const BACKWARD_WG: u32 = 64u;
const NONE: u32 = 0xffffffffu;

struct Params {
  rows: u32,
  r: u32,
  k: u32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> values: array<f32>;
@group(0) @binding(3) var<storage, read_write> indices: array<i32>;

var<workgroup> red_v: array<f32, WG>;
var<workgroup> red_j: array<u32, WG>;

// Whether (v, j) comes before (bv, bj) in the order; NONE comes last.
fn before(v: f32, j: u32, bv: f32, bj: u32) -> bool {
  if (j == NONE) { return false; }
  if (bj == NONE) { return true; }
  return v > bv || (v == bv && j < bj);
}

@compute @workgroup_size(WG)
fn forward(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = group_index(wid, nwg);
  if (row >= p.rows) { return; }  // uniform per workgroup
  let t = lid.x;
  let base = row * p.r;
  var prev_v = 0.0;
  var prev_j = NONE;
  for (var round = 0u; round < p.k; round++) {
    var best_v = 0.0;
    var best_j = NONE;
    for (var j = t; j < p.r; j += WG) {
      let v = x[base + j];
      // eligible: strictly after the previous pick in the order
      let eligible = prev_j == NONE || before(prev_v, prev_j, v, j);
      if (eligible && before(v, j, best_v, best_j)) {
        best_v = v;
        best_j = j;
      }
    }
    red_v[t] = best_v;
    red_j[t] = best_j;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
      if (t < s && before(red_v[t + s], red_j[t + s], red_v[t], red_j[t])) {
        red_v[t] = red_v[t + s];
        red_j[t] = red_j[t + s];
      }
      workgroupBarrier();
    }
    prev_v = red_v[0];
    prev_j = red_j[0];
    if (t == 0u) {
      values[row * p.k + round] = prev_v;
      indices[row * p.k + round] = i32(prev_j);
    }
    workgroupBarrier();
  }
}

// Backward of the values: dx[row, indices[row, t]] += dvalues[row, t] (dx starts at zero); `values`
// holds dvalues here and `x`'s binding is unused.
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(BACKWARD_WG)
fn backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = linear_index(gid, nwg, BACKWARD_WG);
  if (row >= p.rows) { return; }
  for (var t = 0u; t < p.k; t++) {
    let at = row * p.r + u32(indices[row * p.k + t]);
    dx[at] = dx[at] + values[row * p.k + t];
  }
}
