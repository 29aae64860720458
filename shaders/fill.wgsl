// Creation kernels: constant fill and arange, over a (possibly chunked) range of a buffer.
// DTYPE: 0 f32, 1 i32, 2 u32 (values travel as raw 32-bit patterns).
override DTYPE: u32 = 0u;
const WG: u32 = 256u;

struct Params {
  n: u32,       // elements in this chunk
  start: u32,   // global index of the chunk's first element
  value: u32,   // fill: bit pattern; arange: start value bits
  step: u32,    // arange: step bits
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;

@compute @workgroup_size(WG)
fn fill(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_index(gid, nwg, WG);
  if (i < p.n) { out[i] = p.value; }
}

@compute @workgroup_size(WG)
fn arange(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let k = p.start + i;
  if (DTYPE == 0u) {
    out[i] = bitcast<u32>(bitcast<f32>(p.value) + f32(k) * bitcast<f32>(p.step));
  } else {
    out[i] = bitcast<u32>(bitcast<i32>(p.value) + i32(k) * bitcast<i32>(p.step));
  }
}
