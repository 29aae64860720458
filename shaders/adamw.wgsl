// AdamW over two parameters (or binding-sized chunks of them) per dispatch: the optimizer's step
// takes half the launches of one kernel per parameter. Workgroups [0, groups0) update slot 0, the
// rest slot 1 (the grid is folded into 2-D for large chunks, see `grid()` in engine/chunks.ts). The
// arithmetic is shaders/adamw_update.wgsl's (PyTorch 1.13 semantics), shared with the fused
// optimizer's shaders/adamw_flat.wgsl.
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
    let r = adamw_element(param0[i], grad0[i], m0[i], v0[i], p.step_size0, p.bc2_sqrt0);
    m0[i] = r.m;
    v0[i] = r.v;
    param0[i] = r.param;
  } else {
    let i = (group - p.groups0) * WG + lid;
    if (i >= p.n1) { return; }
    let r = adamw_element(param1[i], grad1[i], m1[i], v1[i], p.step_size1, p.bc2_sqrt1);
    m1[i] = r.m;
    v1[i] = r.v;
    param1[i] = r.param;
  }
}
