// Opt-in WGSL helpers for kernels that work on rows with workgroup cooperation (softmax, layerNorm,
// cross-entropy, sampling, gradient-norm clipping): the row-segment mapping and workgroup tree
// reductions. Append with `defineKernel(name, source, { with: [common, rows] })`. Helpers take what
// they use as arguments (never a kernel's `p`) and own their workgroup scratch arrays. Every
// invocation of the workgroup must call a reducing helper (they hold barriers), with `wg` the
// workgroup size (at most ROWS_MAX_WG, a power of two).
//
// shaders/rows_subgroups.wgsl implements the same functions with subgroup operations (the
// `subgroups` feature): a kernel written against these helpers, taking a `RowInvocation` and calling
// `row_thread` for its local index, runs with either prelude (ops/variants.ts picks one per adapter).
// Here the reductions are pairwise trees in workgroup memory, one barrier per level.

// The subgroup size for rows_subgroups.wgsl; declared here too (and unused) so that one launch with
// `constants: { ROWS_SG }` serves either prelude.
override ROWS_SG: u32 = 0u;

const ROWS_MAX_WG: u32 = 256u;

var<workgroup> rows_a: array<f32, ROWS_MAX_WG>;
var<workgroup> rows_b: array<f32, ROWS_MAX_WG>;
var<workgroup> rows_u: array<u32, ROWS_MAX_WG>;

// The per-invocation builtins a row kernel's entry point takes (the subgroup prelude adds the subgroup
// ones). Workgroup builtins stay separate parameters: a struct parameter counts as non-uniform.
struct RowInvocation {
  @builtin(local_invocation_index) index: u32,
}

// This invocation's index within the workgroup, as the helpers below expect it: the local index.
fn row_thread(inv: RowInvocation) -> u32 {
  return inv.index;
}

// A row-per-segment mapping: each row gets a segment of `tpr` invocations (a power of two), so a
// workgroup of `wg` serves wg/tpr rows. The row this invocation works on (`group` is the flat
// workgroup index, `tid` the local index), its lane within the segment, and whether the row exists.
struct Slot {
  row: u32,
  lane: u32,
  live: bool,
}

fn slot(group: u32, tid: u32, tpr: u32, rows: u32, wg: u32) -> Slot {
  let row = group * (wg / tpr) + tid / tpr;
  return Slot(row, tid % tpr, row < rows);
}

// Sums `a` and `b` over each segment of `tpr` invocations (a tree, pairwise); every invocation gets
// its segment's two sums.
fn segment_sum(tid: u32, lane: u32, tpr: u32, a: f32, b: f32) -> vec2f {
  rows_a[tid] = a;
  rows_b[tid] = b;
  workgroupBarrier();
  for (var k = tpr / 2u; k > 0u; k = k / 2u) {
    if (lane < k) {
      rows_a[tid] += rows_a[tid + k];
      rows_b[tid] += rows_b[tid + k];
    }
    workgroupBarrier();
  }
  let head = tid - lane;
  let sums = vec2f(rows_a[head], rows_b[head]);
  workgroupBarrier();  // everyone has read before the next call writes
  return sums;
}

// Combines running (max m, Σexp(x − m)) pairs over each segment of `tpr` invocations (the online
// log-sum-exp of softmax); every invocation gets its segment's (max, sum).
fn segment_logsumexp(tid: u32, lane: u32, tpr: u32, m: f32, s: f32) -> vec2f {
  rows_a[tid] = m;
  rows_b[tid] = s;
  workgroupBarrier();
  for (var k = tpr / 2u; k > 0u; k = k / 2u) {
    if (lane < k) {
      let m1 = rows_a[tid];
      let m2 = rows_a[tid + k];
      let mm = max(m1, m2);
      rows_b[tid] = rows_b[tid] * exp(m1 - mm) + rows_b[tid + k] * exp(m2 - mm);
      rows_a[tid] = mm;
    }
    workgroupBarrier();
  }
  let head = tid - lane;
  let r = vec2f(rows_a[head], rows_b[head]);
  workgroupBarrier();
  return r;
}

// Tree reduction of x over the workgroup (t: local index): the maximum when `take_max`, else the sum.
fn workgroup_reduce(t: u32, x: f32, wg: u32, take_max: bool) -> f32 {
  rows_a[t] = x;
  workgroupBarrier();
  for (var s = wg / 2u; s > 0u; s = s / 2u) {
    if (t < s) {
      let other = rows_a[t + s];
      rows_a[t] = select(rows_a[t] + other, max(rows_a[t], other), take_max);
    }
    workgroupBarrier();
  }
  let r = rows_a[0];
  workgroupBarrier();
  return r;
}

fn reduce_max(t: u32, x: f32, wg: u32) -> f32 {
  return workgroup_reduce(t, x, wg, true);
}

fn reduce_sum(t: u32, x: f32, wg: u32) -> f32 {
  return workgroup_reduce(t, x, wg, false);
}

// Like workgroup_reduce on u32: the minimum when `take_min`, else the sum (counts).
fn workgroup_reduce_u32(t: u32, x: u32, wg: u32, take_min: bool) -> u32 {
  rows_u[t] = x;
  workgroupBarrier();
  for (var s = wg / 2u; s > 0u; s = s / 2u) {
    if (t < s) {
      let other = rows_u[t + s];
      rows_u[t] = select(rows_u[t] + other, min(rows_u[t], other), take_min);
    }
    workgroupBarrier();
  }
  let r = rows_u[0];
  workgroupBarrier();
  return r;
}

// Inclusive prefix sum of x over the workgroup in local-index order (Hillis–Steele). Returns
// (before, through, total): the sums of the invocations before t and up to t, and of all; `before`
// of t is bit for bit `through` of t − 1, so the ranges [before, through) tile [0, total).
fn prefix_sum(t: u32, x: f32, wg: u32) -> vec3f {
  rows_a[t] = x;
  workgroupBarrier();
  for (var s = 1u; s < wg; s = s * 2u) {
    var add = 0.0;
    if (t >= s) { add = rows_a[t - s]; }
    workgroupBarrier();
    rows_a[t] = rows_a[t] + add;
    workgroupBarrier();
  }
  let r = vec3f(select(0.0, rows_a[max(t, 1u) - 1u], t > 0u), rows_a[t], rows_a[wg - 1u]);
  workgroupBarrier();
  return r;
}
