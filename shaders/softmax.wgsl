// Softmax and log-softmax over the last axis of a [rows, C] tensor, any C.
// Each row belongs to a segment of `tpr` threads (a power of two: 256 for long rows, down to 1 for
// tiny ones), so a workgroup serves 256/tpr rows; a long row gets a whole workgroup.
// OP 0 softmax, 1 log-softmax.
// Entry `forward`: each thread keeps an online (max, Σexp(x − max)) over its strided share of the
// row; the pairs combine within the segment (segment_logsumexp); then y = exp(x − M)/S, or
// (x − M) − log S.
// Entry `backward` (x holds the saved output y, dy the output gradient, y receives dx):
//   softmax:     dx = y·(dy − Σ dy·y)
//   log-softmax: dx = dy − exp(y)·Σ dy
// `act`: the storage type of x, y and dy (f32, or f16 with shader-f16; ops/variants.ts); math in f32.
override OP: u32 = 0u;
const WG: u32 = 256u;
const SOFTMAX: u32 = 0u;
const LOG_SOFTMAX: u32 = 1u;
// Start value of the running max: finite, so that exp(m − v) never sees −inf − (−inf).
const LOWEST: f32 = -3.0e38;

struct Params {
  rows: u32,
  c: u32,
  tpr: u32,  // threads per row
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<act>;
@group(0) @binding(2) var<storage, read_write> y: array<act>;
@group(0) @binding(3) var<storage, read> dy: array<act>;

@compute @workgroup_size(WG)
fn forward(inv: RowInvocation, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let tid = row_thread(inv);  // rows.wgsl (or rows_subgroups.wgsl)
  let at = slot(group_index(wid, nwg), tid, p.tpr, p.rows, WG);
  let base = at.row * p.c;
  var m = LOWEST;
  var s = 0.0;
  if (at.live) {
    for (var j = at.lane; j < p.c; j += p.tpr) {
      let v = f32(x[base + j]);
      if (v > m) {
        s = s * exp(m - v) + 1.0;
        m = v;
      } else {
        s += exp(v - m);
      }
    }
  }
  let stats = segment_logsumexp(tid, at.lane, p.tpr, m, s);
  if (!at.live) { return; }
  let row_max = stats.x;
  let total = stats.y;
  if (OP == LOG_SOFTMAX) {
    // (x − M) − log S: x − M is exact for large logits, M + log S would round.
    let log_total = log(total);
    for (var j = at.lane; j < p.c; j += p.tpr) { y[base + j] = act((f32(x[base + j]) - row_max) - log_total); }
  } else {
    let inv_total = 1.0 / total;
    for (var j = at.lane; j < p.c; j += p.tpr) { y[base + j] = act(exp(f32(x[base + j]) - row_max) * inv_total); }
  }
}

@compute @workgroup_size(WG)
fn backward(inv: RowInvocation, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let tid = row_thread(inv);
  let at = slot(group_index(wid, nwg), tid, p.tpr, p.rows, WG);
  let base = at.row * p.c;
  var s = 0.0;
  if (at.live) {
    for (var j = at.lane; j < p.c; j += p.tpr) {
      if (OP == LOG_SOFTMAX) { s += f32(dy[base + j]); } else { s += f32(dy[base + j]) * f32(x[base + j]); }
    }
  }
  let total = segment_sum(tid, at.lane, p.tpr, s, 0.0).x;
  if (!at.live) { return; }
  for (var j = at.lane; j < p.c; j += p.tpr) {
    let i = base + j;
    if (OP == LOG_SOFTMAX) { y[i] = act(f32(dy[i]) - exp(f32(x[i])) * total); } else { y[i] = act(f32(x[i]) * (f32(dy[i]) - total)); }
  }
}
