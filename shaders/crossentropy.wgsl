// Fused, numerically stable cross-entropy over rows of logits [N, V] with integer targets
// (PyTorch semantics: mean over targets != ignore_index). One workgroup per row; rows are processed
// in binding-sized ranges (`row0` = first row of the range, `shift` = its element offset in the
// bound logits), so N·V may exceed one storage binding.
// `act`: the storage type of the logits and their gradient (f32, or f16 with shader-f16;
// ops/variants.ts); losses and math are f32.
const WG: u32 = 256u;

struct Params {
  v: u32,
  rows: u32,       // rows in this range
  row0: u32,       // global index of the range's first row
  shift: u32,      // element offset of row0 in the bound logits range
  ignore: i32,     // ignore_index
  n: u32,          // total rows (mean_loss)
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> logits: array<act>;   // backward: gradient rows written here
@group(0) @binding(2) var<storage, read> targets: array<i32>;
@group(0) @binding(3) var<storage, read_write> row_stats: array<f32>; // [2N]: loss per row, then logsumexp per row
@group(0) @binding(4) var<storage, read_write> result: array<f32>;    // [2]: mean loss, count of counted rows
@group(0) @binding(5) var<storage, read> upstream: array<f32>;        // backward: dL/d(mean loss)
@group(0) @binding(6) var<storage, read> source: array<act>;          // backward: the forward logits
@group(0) @binding(7) var<storage, read_write> errors: array<atomic<u32>>; // error reports (shaders/errors.wgsl)

fn counted(tgt: i32) -> bool {
  return tgt != p.ignore && tgt >= 0 && u32(tgt) < p.v;
}

@compute @workgroup_size(WG)
fn forward(inv: RowInvocation, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = row_thread(inv);  // rows.wgsl (or rows_subgroups.wgsl)
  let r = group_index(wid, nwg);
  if (r >= p.rows) { return; }  // uniform per workgroup
  let base = p.shift + r * p.v;
  var m = -3.4e38;
  for (var j = t; j < p.v; j += WG) { m = max(m, f32(logits[base + j])); }
  m = reduce_max(t, m, WG);
  var s = 0.0;
  for (var j = t; j < p.v; j += WG) { s += exp(f32(logits[base + j]) - m); }
  s = reduce_sum(t, s, WG);
  if (t == 0u) {
    let row = p.row0 + r;
    let lse = m + log(s);
    let tgt = targets[row];
    let ok = counted(tgt);
    // An out-of-range target (not the ignore index) is not counted, and reported: PyTorch raises.
    if (!ok && tgt != p.ignore) { report_error(ERR_TARGET_ID, bitcast<u32>(tgt), row, p.v); }
    row_stats[row] = select(0.0, lse - f32(logits[base + u32(min(max(tgt, 0), i32(p.v) - 1))]), ok);
    row_stats[p.n + row] = lse;
  }
}

// Mean over counted rows (NaN when none, like PyTorch), and the count for backward.
@compute @workgroup_size(WG)
fn mean_loss(inv: RowInvocation) {
  let t = row_thread(inv);
  var s = 0.0;
  var c = 0.0;
  for (var i = t; i < p.n; i += WG) {
    s += row_stats[i];
    c += select(0.0, 1.0, counted(targets[i]));
  }
  let total = reduce_sum(t, s, WG);
  let count = reduce_sum(t, c, WG);
  if (t == 0u) {
    // NaN built at run time (a constant NaN is a WGSL compile error).
    let nan = bitcast<f32>(p._pad0 | 0x7fc00000u);
    result[0] = select(nan, total / count, count > 0.0);
    result[1] = count;
  }
}

// dlogits = (softmax − onehot(tgt)) · upstream / count; zero rows for ignored targets.
@compute @workgroup_size(WG)
fn backward(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = group_index(wid, nwg);
  if (r >= p.rows) { return; }
  let row = p.row0 + r;
  let base = p.shift + r * p.v;
  let tgt = targets[row];
  let keep = counted(tgt);
  let scale = upstream[0] / max(result[1], 1.0);
  let lse = row_stats[p.n + row];
  for (var j = lid.x; j < p.v; j += WG) {
    var d = 0.0;
    if (keep) {
      d = exp(f32(source[base + j]) - lse);
      if (i32(j) == tgt) { d -= 1.0; }
      d *= scale;
    }
    logits[base + j] = act(d);
  }
}
