// AdamW over one binding-sized chunk of a fused optimizer's flat buffers (optim/arena.ts): every
// parameter packed there is updated by this one dispatch. The parameters that have a gradient this
// step are listed as spans sorted by start (elements from the start of the bound range), each with its
// bias corrections; an element finds its span by binary search, and elements in no span (alignment
// gaps, parameters without a gradient) are left alone. The arithmetic is shaders/adamw_update.wgsl's,
// as in shaders/adamw.wgsl, so results are bitwise the same as the unfused optimizer. With `GUARDED`
// the dispatch reads a step guard's flag (shaders/step_guard.wgsl) and changes nothing while it is set.
const WG: u32 = 256u;
override GUARDED: bool = false;

struct Params {
  n: u32,               // elements of the bound range
  spans: u32,           // spans listed (≥ 1)
  _pad0: u32,
  _pad1: u32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  one_minus_beta1: f32, // 1 − beta1 and 1 − beta2, taken in float64 on the CPU
  one_minus_beta2: f32,
  decay: f32,           // 1 − lr·weight_decay
  _pad2: f32,
  _pad3: f32,
  // Span k: (start, count) at bounds[k / 2][2·(k % 2) ..], (lr / (1 − beta1^t), sqrt(1 − beta2^t)) at
  // scales[k / 2][2·(k % 2) ..]: two spans per vec4, MAX_SPANS in all.
  bounds: array<vec4u, 256>,
  scales: array<vec4f, 256>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read_write> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read> skip: array<u32>;   // a step guard's flag (GUARDED only)

fn span_start(k: u32) -> u32 {
  return p.bounds[k / 2u][2u * (k % 2u)];
}

@compute @workgroup_size(WG)
fn step(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  if (GUARDED && skip[0] != 0u) { return; }
  // The last span starting at or before i.
  var lo = 0u;
  var hi = p.spans;
  while (hi - lo > 1u) {
    let mid = (lo + hi) / 2u;
    if (span_start(mid) <= i) { lo = mid; } else { hi = mid; }
  }
  let start = span_start(lo);
  let count = p.bounds[lo / 2u][2u * (lo % 2u) + 1u];
  if (i < start || i - start >= count) { return; }
  let step_size = p.scales[lo / 2u][2u * (lo % 2u)];
  let bc2_sqrt = p.scales[lo / 2u][2u * (lo % 2u) + 1u];

  let r = adamw_element(param[i], grad[i], m[i], v[i], step_size, bc2_sqrt);
  m[i] = r.m;
  v[i] = r.v;
  param[i] = r.param;
}
