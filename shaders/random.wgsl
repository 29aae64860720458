// Counter-based random numbers: element k of a tensor drawn with key `seed` is a pure function of
// (seed, k), so results do not depend on chunking, workgroup size or device.
const WG: u32 = 256u;

struct Params {
  n: u32,      // elements in this chunk
  start: u32,  // global index of the chunk's first element
  seed: u32,
  dist: u32,   // 0 uniform [lo, hi), 1 normal(mean, std)
  a: f32,      // lo or mean
  b: f32,      // hi or std
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

// Hash of element k on one of the streams (pcg and uniform01 are in common.wgsl).
fn draw(k: u32, stream: u32) -> u32 {
  return pcg(pcg(k ^ pcg(p.seed + stream * 0x9e3779b9u)) + p.seed);
}

// 24 random bits → (0, 1].
fn unit_open(bits: u32) -> f32 {
  return (f32(bits >> 8u) + 1.0) * (1.0 / 16777216.0);
}

@compute @workgroup_size(WG)
fn fill_random(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let k = p.start + i;
  if (p.dist == 0u) {
    let u = uniform01(draw(k, 0u));  // [0, 1)
    out[i] = p.a + (p.b - p.a) * u;
  } else {
    // Box–Muller on two independent streams.
    let u1 = unit_open(draw(k, 1u));
    let u2 = unit_open(draw(k, 2u));
    let r = sqrt(-2.0 * log(u1));
    out[i] = p.a + p.b * r * cos(6.283185307179586 * u2);
  }
}
