// Opt-in WGSL helpers for kernels that work on rows with workgroup cooperation (softmax, layerNorm,
// cross-entropy, sampling, gradient-norm clipping): the row-segment mapping and workgroup tree
// reductions. Append with `defineKernel(name, source, { with: [common, rows] })`. Helpers take what
// they use as arguments (never a kernel's `p`) and own their workgroup scratch arrays. Every
// invocation of the workgroup must call a reducing helper (they hold barriers), with `wg` the
// workgroup size (at most ROWS_MAX_WG, a power of two).

const ROWS_MAX_WG: u32 = 256u;

var<workgroup> rows_a: array<f32, ROWS_MAX_WG>;
var<workgroup> rows_b: array<f32, ROWS_MAX_WG>;

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
