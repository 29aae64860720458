// Selection and masking on raw 32-bit words (any 4-byte dtype). A condition/mask word is true when
// nonzero: as a float when COND_F32 (so -0.0 is false, NaN true), else as an integer.
//   forward:     out[i] = cond[ic] ? a[ia] : b[ib]           (NumPy broadcasting, collapsed dims)
//   masked_fill: out[i] = (mask[ic] != INVERT) ? value : a[ia]  (value: raw bits from the uniforms)
//   tri:         out[i] = keep(row, col) ? a[i] : 0 on the last two dims, shape = [rows, cols];
//                keep is col − row ≥ diagonal (triu) or col − row ≤ diagonal when LOWER (tril).
override RANK: u32 = 1u;
override COND_F32: bool = false;
override INVERT: bool = false;
override LOWER: bool = false;
const WG: u32 = 256u;

struct Params {
  n: u32,
  value: u32,
  diagonal: i32,
  _pad: u32,
  shape: array<vec4u, 2>,      // output dims (collapsed)
  c_strides: array<vec4u, 2>,
  a_strides: array<vec4u, 2>,
  b_strides: array<vec4u, 2>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> cond: array<u32>;
@group(0) @binding(2) var<storage, read> a: array<u32>;
@group(0) @binding(3) var<storage, read> b: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<u32>;

fn is_true(w: u32) -> bool {
  if (COND_F32) { return bitcast<f32>(w) != 0.0; }
  return w != 0u;
}

// Offset of output element i in an operand with these strides (strided_offset is in common.wgsl).
fn at(i: u32, strides: array<vec4u, 2>) -> u32 {
  return strided_offset(i, RANK, p.shape, strides);
}

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  out[i] = select(b[at(i, p.b_strides)], a[at(i, p.a_strides)], is_true(cond[at(i, p.c_strides)]));
}

@compute @workgroup_size(WG)
fn masked_fill(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  out[i] = select(a[at(i, p.a_strides)], p.value, is_true(cond[at(i, p.c_strides)]) != INVERT);
}

@compute @workgroup_size(WG)
fn tri(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let cols = p.shape[0].y;
  let rows = p.shape[0].x;
  let col = i32(i % cols);
  let row = i32((i / cols) % rows);
  let offset = col - row;
  let keep = select(offset >= p.diagonal, offset <= p.diagonal, LOWER);
  out[i] = select(0u, a[i], keep);
}
