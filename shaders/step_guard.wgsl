// The non-finite guard of a training step (optim/step-guard.ts): before the optimizer updates, one
// pass over the step's gradients (or its gradient norm, or losses) marks the step as bad when any
// element is Inf or NaN, and the optimizer kernels that take the flag (`GUARDED` in
// shaders/adamw_flat.wgsl and shaders/optim.wgsl) leave parameters and moments untouched while it is
// set. Nothing is read back per step: the host reads the flag at its next check point.
//
// The flag is sticky and names the first bad step: it holds ~step (0xffffffff − step) of the
// earliest step marked, and atomicMax keeps the smallest step. 0 = no bad step since the host
// cleared it. Every step after a bad one is skipped too, so the weights stay those before it.
const WG: u32 = 256u;

struct Params {
  n: u32,      // elements in this chunk
  mark: u32,   // 0xffffffff − step (step ≥ 1)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> values: array<f32>;
@group(0) @binding(2) var<storage, read_write> flag: array<atomic<u32>>;
// The same range as `values`, four elements per load (a CPU adapter pays per load, not per byte).
@group(0) @binding(3) var<storage, read> quads: array<vec4f>;

// Invocations [0, n / 4) check a quad each, the next n % 4 one trailing element each.
@compute @workgroup_size(WG)
fn check(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_index(gid, nwg, WG);
  let whole = p.n / 4u;
  var bad = false;
  if (i < whole) {
    let exponent = bitcast<vec4u>(quads[i]) & vec4u(0x7f800000u);
    bad = any(exponent == vec4u(0x7f800000u));
  } else if (i < whole + p.n % 4u) {
    bad = non_finite(values[4u * whole + (i - whole)]);
  }
  if (bad) { atomicMax(&flag[0], p.mark); }
}
