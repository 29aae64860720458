// Fused optimizer updates and gradient-norm clipping, in place, over one binding-sized chunk of a
// parameter at a time. Hyperparameters and bias corrections travel in uniforms: no recompiles.
// AdamW, two chunks per dispatch, is shaders/adamw.wgsl.
const WG: u32 = 256u;
const PER_THREAD: u32 = 16u;
// sgd: read a step guard's flag (shaders/step_guard.wgsl) and change nothing while it is set.
override GUARDED: bool = false;

struct Params {
  n: u32,              // elements in this chunk
  partial: u32,        // sumsq: index of this chunk's first partial sum; clip_factor: number of partials
  nesterov: u32,       // sgd
  first: u32,          // sgd: 1 on the first step (momentum buffer = grad)
  lr: f32,
  beta1: f32,          // sgd momentum
  weight_decay: f32,
  max_norm: f32,       // clip_factor
  // Taken in float64 on the CPU (as PyTorch does with Python floats).
  one_minus_beta1: f32, // sgd: 1 − dampening
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read_write> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> partials: array<f32>;
@group(0) @binding(5) var<storage, read_write> norm: array<f32>;   // [total norm, clip factor]
@group(0) @binding(6) var<storage, read> skip: array<u32>;         // sgd: a step guard's flag (GUARDED only)

// PyTorch SGD: L2 weight decay into the gradient, momentum buffer with dampening, optional Nesterov.
@compute @workgroup_size(WG)
fn sgd(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  if (GUARDED && skip[0] != 0u) { return; }
  var d = grad[i] + p.weight_decay * param[i];
  if (p.beta1 != 0.0) {
    var buf = d;
    if (p.first == 0u) { buf = p.beta1 * m[i] + p.one_minus_beta1 * d; }
    m[i] = buf;
    d = select(buf, d + p.beta1 * buf, p.nesterov != 0u);
  }
  param[i] = param[i] - p.lr * d;
}

// Partial sums of grad² per workgroup (PER_THREAD·WG elements each), tree-reduced (rows.wgsl).
@compute @workgroup_size(WG)
fn sumsq(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let group = group_index(wid, nwg);
  let base = group * WG * PER_THREAD;
  var s = 0.0;
  for (var k = 0u; k < PER_THREAD; k++) {
    let i = base + k * WG + lid.x;
    if (i < p.n) { let g = grad[i]; s += g * g; }
  }
  let total = reduce_sum(lid.x, s, WG);
  if (lid.x == 0u) { partials[p.partial + group] = total; }
}

// One workgroup: total norm = sqrt(Σ partials); clip factor = min(1, max_norm / (norm + 1e-6)),
// written as a select so a huge max_norm cannot overflow the division.
@compute @workgroup_size(WG)
fn clip_factor(@builtin(local_invocation_id) lid: vec3u) {
  var s = 0.0;
  for (var i = lid.x; i < p.partial; i += WG) { s += partials[i]; }
  let sum = reduce_sum(lid.x, s, WG);
  if (lid.x == 0u) {
    let total = sqrt(sum);
    norm[0] = total;
    let denom = total + 1e-6;
    norm[1] = select(1.0, p.max_norm / denom, denom > p.max_norm);
  }
}

// grad *= clip factor, in place.
@compute @workgroup_size(WG)
fn clip_grads(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_index(gid, nwg, WG);
  if (i < p.n) { grad[i] = grad[i] * norm[1]; }
}
