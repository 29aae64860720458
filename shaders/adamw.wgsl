// AdamW over two parameters (or binding-sized chunks of them) per dispatch: the optimizer's step
// takes half the launches of one kernel per parameter. Workgroups [0, groups0) update slot 0, the
// rest slot 1 (the grid is folded into 2-D for large chunks, see `grid()` in engine/kernel.ts). The
// arithmetic is shaders/optim.wgsl's `adamw`, operation for operation (PyTorch 1.13 semantics:
// decoupled decay, then Adam with bias corrections), so results are bitwise the same.
const WG: u32 = 256u;

struct Params {
  n0: u32,              // elements of slot 0
  n1: u32,              // elements of slot 1 (0: no second slot)
  groups0: u32,         // workgroups of slot 0
  _pad0: u32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  one_minus_beta1: f32, // 1 − beta1 and 1 − beta2, taken in float64 on the CPU
  one_minus_beta2: f32,
  decay: f32,           // 1 − lr·weight_decay
  step_size0: f32,      // lr / (1 − beta1^t) of slot 0's parameter
  bc2_sqrt0: f32,       // sqrt(1 − beta2^t)
  step_size1: f32,
  bc2_sqrt1: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param0: array<f32>;
@group(0) @binding(2) var<storage, read_write> grad0: array<f32>;
@group(0) @binding(3) var<storage, read_write> m0: array<f32>;
@group(0) @binding(4) var<storage, read_write> v0: array<f32>;
@group(0) @binding(5) var<storage, read_write> param1: array<f32>;
@group(0) @binding(6) var<storage, read_write> grad1: array<f32>;
@group(0) @binding(7) var<storage, read_write> m1: array<f32>;
@group(0) @binding(8) var<storage, read_write> v1: array<f32>;

@compute @workgroup_size(WG)
fn step(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let group = group_index(wid, nwg);
  if (group < p.groups0) {
    let i = group * WG + lid;
    if (i >= p.n0) { return; }
    let g = grad0[i];
    let w = param0[i] * p.decay;
    let mi = p.beta1 * m0[i] + p.one_minus_beta1 * g;
    let vi = p.beta2 * v0[i] + p.one_minus_beta2 * g * g;
    m0[i] = mi;
    v0[i] = vi;
    let denom = sqrt(vi) / p.bc2_sqrt0 + p.eps;
    param0[i] = w - p.step_size0 * mi / denom;
  } else {
    let i = (group - p.groups0) * WG + lid;
    if (i >= p.n1) { return; }
    let g = grad1[i];
    let w = param1[i] * p.decay;
    let mi = p.beta1 * m1[i] + p.one_minus_beta1 * g;
    let vi = p.beta2 * v1[i] + p.one_minus_beta2 * g * g;
    m1[i] = mi;
    v1[i] = vi;
    let denom = sqrt(vi) / p.bc2_sqrt1 + p.eps;
    param1[i] = w - p.step_size1 * mi / denom;
  }
}
