// Token sampling on the GPU, one workgroup per row of logits [B, V]: temperature, top-k and top-p
// (nucleus) filtering, then one categorical draw from a counter-based hash of (seed, row) — only
// the chosen id ever leaves the GPU. temperature 0 means greedy (first maximum, like argmax).
// Top-k/top-p thresholds are found by bisection on the value axis with parallel counts, so no sort
// is needed; ties at the threshold are all kept.
const WG: u32 = 256u;
const ITERS: u32 = 32u;

struct Params {
  v: u32,           // vocabulary size (row length)
  top_k: u32,       // 0 = off
  seed: u32,
  _pad: u32,
  temperature: f32, // 0 = greedy
  top_p: f32,       // 1 = off
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<act>;  // f32, or f16 with shader-f16 (ops/variants.ts)
@group(0) @binding(2) var<storage, read_write> out: array<i32>;
@group(0) @binding(3) var<storage, read_write> errors: array<atomic<u32>>; // error reports (shaders/errors.wgsl)

var<workgroup> row_ok: u32;

// Counts over the workgroup (rows.wgsl).
fn reduce_count(t: u32, x: u32) -> u32 {
  return workgroup_reduce_u32(t, x, WG, false);
}

// Smallest index with the maximum value (greedy), by reduction on (value, -index).
fn argmax_row(t: u32, base: u32) -> u32 {
  var best = -3.4e38;
  var best_i = 0xffffffffu;
  for (var i = t; i < p.v; i += WG) {
    let x = f32(logits[base + i]);
    if (x > best) { best = x; best_i = i; }
  }
  let m = reduce_max(t, best, WG);
  return workgroup_reduce_u32(t, select(0xffffffffu, best_i, best == m), WG, true);
}

// Whether a row can be sampled: no NaN or +Inf, and at least one value above −Inf. A row that cannot
// (a diverged model, corrupt weights) gets id −1 and a report, which the readback of the ids throws.
fn row_is_valid(t: u32, base: u32) -> bool {
  var bad = 0u;
  var usable = 0u;
  for (var i = t; i < p.v; i += WG) {
    let x = f32(logits[base + i]);
    if (is_nan_or_pos_inf(x)) { bad += 1u; } else if (bitcast<u32>(x) != 0xff800000u) { usable += 1u; }
  }
  let nbad = reduce_count(t, bad);
  let nusable = reduce_count(t, usable);
  // Through a uniform load: the barriers after an early return must stay in uniform control flow.
  if (t == 0u) { row_ok = select(0u, 1u, nbad == 0u && nusable > 0u); }
  return workgroupUniformLoad(&row_ok) != 0u;
}

@compute @workgroup_size(WG)
fn forward(inv: RowInvocation, @builtin(workgroup_id) wid: vec3u) {
  let t = row_thread(inv);  // rows.wgsl (or rows_subgroups.wgsl)
  let row = wid.x;
  let base = row * p.v;
  if (!row_is_valid(t, base)) {
    if (t == 0u) {
      out[row] = -1;
      report_error(ERR_NONFINITE_LOGITS, 0u, row, p.v);
    }
    return;
  }
  if (p.temperature <= 0.0) {
    let i = argmax_row(t, base);
    if (t == 0u) { out[row] = i32(i); }
    return;
  }
  let inv_t = 1.0 / p.temperature;
  // Scaled logits z = logits / temperature; probabilities ∝ exp(z − zmax).
  var local_max = -3.4e38;
  for (var i = t; i < p.v; i += WG) { local_max = max(local_max, f32(logits[base + i]) * inv_t); }
  let zmax = reduce_max(t, local_max, WG);

  // Threshold on z: keep z ≥ lo. Start with everything.
  var lo = -3.4e38;
  if (p.top_k > 0u && p.top_k < p.v) {
    // Largest τ with count(z ≥ τ) ≥ k, by bisection between the row's min and max.
    var local_min = 3.4e38;
    for (var i = t; i < p.v; i += WG) { local_min = min(local_min, f32(logits[base + i]) * inv_t); }
    var a = -reduce_max(t, -local_min, WG); // count(z ≥ a) = V ≥ k
    var b = zmax;                        // count(z ≥ zmax) ≥ 1
    for (var it = 0u; it < ITERS; it++) {
      let mid = a + (b - a) * 0.5;
      var c = 0u;
      for (var i = t; i < p.v; i += WG) { c += select(0u, 1u, f32(logits[base + i]) * inv_t >= mid); }
      if (reduce_count(t, c) >= p.top_k) { a = mid; } else { b = mid; }
    }
    // Also accept b if it still keeps k (bisection interval closed on the right).
    var cb = 0u;
    for (var i = t; i < p.v; i += WG) { cb += select(0u, 1u, f32(logits[base + i]) * inv_t >= b); }
    lo = select(a, b, reduce_count(t, cb) >= p.top_k);
  }
  var local_z = 0.0;
  for (var i = t; i < p.v; i += WG) {
    let z = f32(logits[base + i]) * inv_t;
    if (z >= lo) { local_z += exp(z - zmax); }
  }
  let total = reduce_sum(t, local_z, WG);
  if (p.top_p < 1.0) {
    // Largest τ ≥ lo whose kept mass (z ≥ τ) is still ≥ top_p of the total.
    var a = lo;
    if (a < -3.0e38) { a = zmax - 104.0; } // exp(−104) underflows f32: nothing below matters
    var b = zmax;
    for (var it = 0u; it < ITERS; it++) {
      let mid = a + (b - a) * 0.5;
      var m = 0.0;
      for (var i = t; i < p.v; i += WG) {
        let z = f32(logits[base + i]) * inv_t;
        if (z >= mid) { m += exp(z - zmax); }
      }
      if (reduce_sum(t, m, WG) >= p.top_p * total) { a = mid; } else { b = mid; }
    }
    lo = max(lo, a);
  }
  // Each thread owns a contiguous chunk; a workgroup scan of chunk masses finds the chunk holding u.
  let chunk = (p.v + WG - 1u) / WG;
  let start = min(t * chunk, p.v);
  let end = min(start + chunk, p.v);
  var mass = 0.0;
  for (var i = start; i < end; i++) {
    let z = f32(logits[base + i]) * inv_t;
    if (z >= lo) { mass += exp(z - zmax); }
  }
  let sums = prefix_sum(t, mass, WG);  // (before, through, total) in thread order
  let kept = sums.z;
  let before = sums.x;
  let r = uniform01(pcg(pcg(p.seed) ^ pcg(row + 0x51ed270bu)));
  let u = r * kept;
  // The owning thread: u in [before, before + mass). The last thread with mass catches rounding.
  if (u >= before && (u < sums.y || (t == WG - 1u))) {
    var acc = before;
    var chosen = 0xffffffffu;
    var last_kept = 0xffffffffu;
    for (var i = start; i < end; i++) {
      let z = f32(logits[base + i]) * inv_t;
      if (z >= lo) {
        last_kept = i;
        acc += exp(z - zmax);
        if (acc > u && chosen == 0xffffffffu) { chosen = i; }
      }
    }
    if (chosen == 0xffffffffu) { chosen = last_kept; }
    if (chosen != 0xffffffffu) { out[row] = i32(chosen); }
  }
}
