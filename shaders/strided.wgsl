// Strided copy of raw 32-bit words (any 4-byte dtype): for every index c of `shape`,
//   dst[dst_offset + Σ c_k·dst_strides_k] = src[src_offset + Σ c_k·src_strides_k].
// permute (permuted source strides), slice (source offset) and concat / slice backward (destination
// offset inside a larger tensor) are all this one kernel. Shapes arrive collapsed; RANK is that rank.
override RANK: u32 = 1u;
const WG: u32 = 256u;

struct Params {
  n: u32,
  src_offset: u32,
  dst_offset: u32,
  _pad: u32,
  shape: array<vec4u, 2>,
  src_strides: array<vec4u, 2>,
  dst_strides: array<vec4u, 2>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;

@compute @workgroup_size(WG)
fn copy(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  dst[p.dst_offset + strided_offset(i, RANK, p.shape, p.dst_strides)] = src[p.src_offset + strided_offset(i, RANK, p.shape, p.src_strides)];
}
