// Shared WGSL prelude: pure functions only (no bindings, no workgroup memory, nothing read from a
// kernel's `p`). Kernels opt in with `defineKernel(name, source, { with: [common] })`, which appends
// this file, so a kernel's own line numbers stay as they are in compile errors.

// Flat index of this invocation on a 1-D grid that the host folded into 2-D (`grid()` in kernel.ts);
// `wg` is the entry point's workgroup size.
fn linear_index(gid: vec3u, nwg: vec3u, wg: u32) -> u32 {
  return gid.x + gid.y * nwg.x * wg;
}

// Flat index of this workgroup on a folded grid (entries that give a workgroup to each row).
fn group_index(wid: vec3u, nwg: vec3u) -> u32 {
  return wid.x + wid.y * nwg.x;
}

// Inf or NaN: every exponent bit set. WGSL has no isinf/isnan, and a compiler may fold `x != x`.
fn non_finite(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u;
}

// PCG-style integer hash (Jarzynski & Olano, "Hash Functions for GPU Rendering", 2020). Counter-based
// random numbers (random, dropout, attention dropout, sampling) are compositions of it; the TS
// reference is `pcg` in packages/core/src/ops/shared.ts.
fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

// The top 24 bits of a hash → [0, 1), exactly representable in f32.
fn uniform01(h: u32) -> f32 {
  return f32(h >> 8u) * (1.0 / 16777216.0);
}

// Entry k of a packed dims array (up to 8 values in two vec4s, as the host packs shapes and strides).
fn dim_at(v: array<vec4u, 2>, k: u32) -> u32 {
  return v[k >> 2u][k & 3u];
}

// The strided unravel: offset Σ c_d·strides_d of element i of a row-major `shape` of rank `rank`
// (c = i unravelled, last dimension fastest).
fn strided_offset(i: u32, rank: u32, shape: array<vec4u, 2>, strides: array<vec4u, 2>) -> u32 {
  var rem = i;
  var at = 0u;
  for (var d = i32(rank) - 1; d >= 0; d--) {
    let k = u32(d);
    let dim = dim_at(shape, k);
    at += (rem % dim) * dim_at(strides, k);
    rem = rem / dim;
  }
  return at;
}
