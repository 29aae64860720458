// Reductions over the middle axis of a contiguous [outer, R, inner] view, and their backward.
//
// Entry `forward`: the outputs (o, i), flattened as j = o·inner + i, are dealt to workgroups in tiles
// of `cols` consecutive outputs; each workgroup takes one tile and one chunk of R. Its 256 threads
// form `cols` columns × `lanes` = 256/cols lanes; each lane folds `per_lane` elements of its column
// serially (strided by `lanes`, so neighbouring lanes read neighbouring rows), then the lanes combine
// in a shared-memory tree. The result is one partial per chunk, [outer, chunks, inner]; the host runs
// passes until one chunk is left, so long reductions are pairwise (tree) sums, not one long serial f32
// loop. Short reductions use few lanes and many columns, so small rows do not idle a workgroup.
// OP 0 sum, 1 max (also tracks the first index of the maximum along R; NaN counts as the maximum).
// DTYPE 0 f32, 1 i32 (data as raw 32-bit words). `scale` multiplies the final f32 sum (mean = 1/R).
//
// Entry `backward_sum` (of sum/mean): out[j] = g[offset(j)] · scale, where offset walks the output's
// (collapsed, RANK-dim) shape with g's strides (0 on reduced dims).
// Entry `backward_max`: out[j] = g[o, i] where r is the saved argmax of (o, i), else 0.
override OP: u32 = 0u;
override DTYPE: u32 = 0u;
override RANK: u32 = 1u;
const WG: u32 = 256u;

const SUM: u32 = 0u;
const MAX: u32 = 1u;
const I32: u32 = 1u;
const NO_INDEX: u32 = 0xffffffffu;

struct Params {
  outer: u32,
  r: u32,          // reduced extent of this pass's input
  inner: u32,
  cols: u32,       // outputs per workgroup: a power of two ≤ 256
  per_lane: u32,   // elements each lane folds serially
  chunks: u32,     // partials per (outer, inner) this pass writes
  outputs: u32,    // outer · inner
  first: u32,      // 1: the position along R is the index; 0: read it from idx_in (later passes)
  scale: f32,
  n: u32,          // backward entries: output elements
  _pad0: u32,
  _pad1: u32,
  shape: array<vec4u, 2>,    // backward_sum: collapsed output dims
  strides: array<vec4u, 2>,  // backward_sum: g's strides per output dim
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read> idx_in: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;
@group(0) @binding(4) var<storage, read_write> idx_out: array<u32>;

var<workgroup> shared_v: array<u32, WG>;
var<workgroup> shared_i: array<u32, WG>;

fn identity() -> u32 {
  if (OP == MAX) {
    return select(0xff800000u, 0x80000000u, DTYPE == I32);  // -inf, or the smallest i32
  }
  return 0u;
}

fn add(a: u32, b: u32) -> u32 {
  if (DTYPE == I32) { return bitcast<u32>(bitcast<i32>(a) + bitcast<i32>(b)); }
  return bitcast<u32>(bitcast<f32>(a) + bitcast<f32>(b));
}

// Whether (vb, ib) replaces (va, ia) as the running maximum: larger, or equal and earlier. NaN wins.
fn better(va: u32, ia: u32, vb: u32, ib: u32) -> bool {
  if (ib == NO_INDEX) { return false; }
  if (ia == NO_INDEX) { return true; }
  if (DTYPE == I32) {
    let a = bitcast<i32>(va);
    let b = bitcast<i32>(vb);
    return b > a || (b == a && ib < ia);
  }
  // NaN tested on the bits: drivers may fold `v != v` away.
  let a_nan = (va & 0x7fffffffu) > 0x7f800000u;
  let b_nan = (vb & 0x7fffffffu) > 0x7f800000u;
  if (a_nan || b_nan) { return b_nan && (!a_nan || ib < ia); }
  let a = bitcast<f32>(va);
  let b = bitcast<f32>(vb);
  return b > a || (b == a && ib < ia);
}

fn finish(v: u32) -> u32 {
  if (OP == SUM && DTYPE != I32) { return bitcast<u32>(bitcast<f32>(v) * p.scale); }
  return v;
}

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) tid: u32) {
  let w = group_index(wid, nwg);
  let tiles = (p.outputs + p.cols - 1u) / p.cols;
  if (w >= tiles * p.chunks) { return; }
  let chunk = w % p.chunks;
  let j = (w / p.chunks) * p.cols + tid % p.cols;
  let o = j / p.inner;
  let col = j % p.inner;
  let lanes = WG / p.cols;
  let lane = tid / p.cols;

  var acc = identity();
  var acc_i = NO_INDEX;
  if (j < p.outputs) {
    let start = chunk * lanes * p.per_lane + lane;
    for (var k = 0u; k < p.per_lane; k++) {
      let r = start + k * lanes;
      if (r >= p.r) { break; }
      let at = (o * p.r + r) * p.inner + col;
      if (OP == MAX) {
        var index = r;
        if (p.first == 0u) { index = idx_in[at]; }
        if (better(acc, acc_i, x[at], index)) {
          acc = x[at];
          acc_i = index;
        }
      } else {
        acc = add(acc, x[at]);
      }
    }
  }
  shared_v[tid] = acc;
  shared_i[tid] = acc_i;
  workgroupBarrier();
  for (var s = lanes / 2u; s > 0u; s = s / 2u) {
    if (lane < s) {
      let other = tid + s * p.cols;
      if (OP == MAX) {
        if (better(shared_v[tid], shared_i[tid], shared_v[other], shared_i[other])) {
          shared_v[tid] = shared_v[other];
          shared_i[tid] = shared_i[other];
        }
      } else {
        shared_v[tid] = add(shared_v[tid], shared_v[other]);
      }
    }
    workgroupBarrier();
  }
  if (lane == 0u && j < p.outputs) {
    let dst = (o * p.chunks + chunk) * p.inner + col;
    if (p.chunks == 1u) { out[dst] = finish(shared_v[tid]); } else { out[dst] = shared_v[tid]; }
    if (OP == MAX) { idx_out[dst] = shared_i[tid]; }
  }
}

@compute @workgroup_size(WG)
fn backward_sum(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = linear_index(gid, nwg, WG);
  if (j >= p.n) { return; }
  let at = strided_offset(j, RANK, p.shape, p.strides);
  out[j] = bitcast<u32>(bitcast<f32>(x[at]) * p.scale);
}

// x: the output gradient [outer, inner]; idx_in: the saved argmax [outer, inner]; out: dx [outer, R, inner].
@compute @workgroup_size(WG)
fn backward_max(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = linear_index(gid, nwg, WG);
  if (j >= p.n) { return; }
  let col = j % p.inner;
  let r = (j / p.inner) % p.r;
  let at = (j / (p.inner * p.r)) * p.inner + col;
  out[j] = select(0u, x[at], idx_in[at] == r);
}
