// The row helpers of shaders/rows.wgsl, with subgroup operations (WGSL `subgroups`): the same
// functions and signatures, so a row kernel compiles against either prelude. ops/variants.ts
// prepends `enable subgroups;` to the kernel's first line and appends this file instead of rows.wgsl.
//
// No assumption on how the hardware lays subgroups out over local indices: `row_thread` hands each
// subgroup a contiguous block of "row thread" indices (a workgroup counter, one atomicAdd per
// subgroup), and the helpers take those indices. So a block of `width` = min(segment, subgroup)
// consecutive row threads is always one subgroup, lane i holding index base + i. What is assumed:
// subgroups are full and all of one size (true of every driver for a workgroup that is a multiple of
// the subgroup size: 256 here). Which subgroup gets which block changes from run to run, but every
// sum is formed in the same order (by lane, then by block), so results are the same bits every run.
//
// A reduction: a butterfly (subgroupShuffleXor) inside each block, every lane ending with the same
// bits; segments wider than a subgroup then combine their blocks' partials through workgroup memory,
// each lane taking every width-th partial and a butterfly finishing: two barriers in all, against
// log2(segment) + 1 for the trees. ROWS_SG is the subgroup size when the adapter has only one
// (adapter.info.subgroupMinSize == subgroupMaxSize), which lets segments that fit in a subgroup skip
// the barriers; 0 when it varies.
override ROWS_SG: u32 = 0u;

const ROWS_MAX_WG: u32 = 256u;
const ROWS_LOWEST: f32 = -3.4e38;

var<workgroup> rows_a: array<f32, ROWS_MAX_WG>;
var<workgroup> rows_b: array<f32, ROWS_MAX_WG>;
var<workgroup> rows_u: array<u32, ROWS_MAX_WG>;
var<workgroup> rows_next: atomic<u32>;
var<private> rows_lane: u32;
var<private> rows_sg: u32;

struct RowInvocation {
  @builtin(local_invocation_index) index: u32,
  @builtin(subgroup_invocation_id) sg_lane: u32,
  @builtin(subgroup_size) sg_size: u32,
}

// This invocation's row-thread index: its subgroup's block start plus its lane. Call once, first,
// from uniform control flow.
fn row_thread(inv: RowInvocation) -> u32 {
  rows_lane = inv.sg_lane;
  rows_sg = inv.sg_size;
  var base = 0u;
  if (subgroupElect()) { base = atomicAdd(&rows_next, inv.sg_size); }
  return subgroupBroadcastFirst(base) + inv.sg_lane;
}

struct Slot {
  row: u32,
  lane: u32,
  live: bool,
}

fn slot(group: u32, tid: u32, tpr: u32, rows: u32, wg: u32) -> Slot {
  let row = group * (wg / tpr) + tid / tpr;
  return Slot(row, tid % tpr, row < rows);
}

// Whether a segment of `tpr` row threads fits in one subgroup of a known size (a uniform value).
fn rows_in_subgroup(tpr: u32) -> bool {
  return ROWS_SG != 0u && tpr <= ROWS_SG;
}

fn segment_sum(tid: u32, lane: u32, tpr: u32, a: f32, b: f32) -> vec2f {
  let width = min(tpr, rows_sg);
  var v = vec2f(a, b);
  for (var m = 1u; m < width; m = m << 1u) { v += subgroupShuffleXor(v, m); }
  if (rows_in_subgroup(tpr)) { return v; }
  // One partial per block; each lane takes every width-th partial of its segment.
  if (lane % width == 0u) {
    rows_a[tid / width] = v.x;
    rows_b[tid / width] = v.y;
  }
  workgroupBarrier();
  let first = (tid - lane) / width;
  var total = vec2f(0.0);
  for (var i = lane % width; i < tpr / width; i += width) { total += vec2f(rows_a[first + i], rows_b[first + i]); }
  for (var m = 1u; m < width; m = m << 1u) { total += subgroupShuffleXor(total, m); }
  workgroupBarrier();
  return total;
}

// (max, Σexp(x − max)) pairs: the merge of two is symmetric, so butterfly partners agree bit for bit.
fn rows_merge(a: vec2f, b: vec2f) -> vec2f {
  let mm = max(a.x, b.x);
  return vec2f(mm, a.y * exp(a.x - mm) + b.y * exp(b.x - mm));
}

fn segment_logsumexp(tid: u32, lane: u32, tpr: u32, m: f32, s: f32) -> vec2f {
  let width = min(tpr, rows_sg);
  var v = vec2f(m, s);
  for (var k = 1u; k < width; k = k << 1u) { v = rows_merge(v, subgroupShuffleXor(v, k)); }
  if (rows_in_subgroup(tpr)) { return v; }
  if (lane % width == 0u) {
    rows_a[tid / width] = v.x;
    rows_b[tid / width] = v.y;
  }
  workgroupBarrier();
  let first = (tid - lane) / width;
  var r = vec2f(ROWS_LOWEST, 0.0);
  for (var i = lane % width; i < tpr / width; i += width) { r = rows_merge(r, vec2f(rows_a[first + i], rows_b[first + i])); }
  for (var k = 1u; k < width; k = k << 1u) { r = rows_merge(r, subgroupShuffleXor(r, k)); }
  workgroupBarrier();
  return r;
}

fn workgroup_reduce(t: u32, x: f32, wg: u32, take_max: bool) -> f32 {
  let v = select(subgroupAdd(x), subgroupMax(x), take_max);
  if (rows_in_subgroup(wg)) { return v; }
  if (rows_lane == 0u) { rows_a[t / rows_sg] = v; }
  workgroupBarrier();
  var acc = select(0.0, ROWS_LOWEST, take_max);
  for (var i = rows_lane; i < wg / rows_sg; i += rows_sg) {
    let o = rows_a[i];
    acc = select(acc + o, max(acc, o), take_max);
  }
  let r = select(subgroupAdd(acc), subgroupMax(acc), take_max);
  workgroupBarrier();
  return r;
}

fn reduce_max(t: u32, x: f32, wg: u32) -> f32 {
  return workgroup_reduce(t, x, wg, true);
}

fn reduce_sum(t: u32, x: f32, wg: u32) -> f32 {
  return workgroup_reduce(t, x, wg, false);
}

fn workgroup_reduce_u32(t: u32, x: u32, wg: u32, take_min: bool) -> u32 {
  let v = select(subgroupAdd(x), subgroupMin(x), take_min);
  if (rows_in_subgroup(wg)) { return v; }
  if (rows_lane == 0u) { rows_u[t / rows_sg] = v; }
  workgroupBarrier();
  var acc = select(0u, 0xffffffffu, take_min);
  for (var i = rows_lane; i < wg / rows_sg; i += rows_sg) {
    let o = rows_u[i];
    acc = select(acc + o, min(acc, o), take_min);
  }
  let r = select(subgroupAdd(acc), subgroupMin(acc), take_min);
  workgroupBarrier();
  return r;
}

// Prefix sums in row-thread order: a subgroup scan, the blocks' totals summed in block order.
fn prefix_sum(t: u32, x: f32, wg: u32) -> vec3f {
  let inclusive = subgroupInclusiveAdd(x);
  if (rows_lane == rows_sg - 1u) { rows_a[t / rows_sg] = inclusive; }
  workgroupBarrier();
  var offset = 0.0;
  for (var i = 0u; i < t / rows_sg; i++) { offset += rows_a[i]; }
  let through = offset + inclusive;
  rows_b[t] = through;
  workgroupBarrier();
  let r = vec3f(select(0.0, rows_b[max(t, 1u) - 1u], t > 0u), through, rows_b[wg - 1u]);
  workgroupBarrier();
  return r;
}
