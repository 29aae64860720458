// Unscaling gradients for dynamic loss scaling (optim/grad-scaler.ts), in place, over one
// binding-sized chunk of a gradient (or of a fused optimizer's flat gradient buffer) per dispatch:
// grad *= inv_scale, and found[0] = 1 when any element is Inf or NaN, like PyTorch's
// _amp_foreach_non_finite_check_and_unscale_ (non-finite elements are multiplied too; the step that
// would read them is skipped). The host clears `found` before the first chunk of a step.
const WG: u32 = 256u;

struct Params {
  n: u32,          // elements in this chunk
  inv_scale: f32,  // 1 / scale rounded to f32 on the CPU (exact for a power-of-two scale)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> found: array<atomic<u32>>;

@compute @workgroup_size(WG)
fn unscale(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let g = grad[i];
  if (non_finite(g)) { atomicStore(&found[0], 1u); }
  grad[i] = g * p.inv_scale;
}
