// Inverted dropout: y[k] = x[k] · keep(k), keep(k) = 0 with probability p, else 1/(1−p).
// keep(k) is a counter-based hash of (seed, k) — k the global element index — so the mask does
// not depend on chunking or workgroup size, and the backward (dx = dy · keep) regenerates exactly
// the forward's mask from the seed instead of storing it. One entry serves both directions.
const WG: u32 = 256u;

struct Params {
  n: u32,      // elements in this chunk
  start: u32,  // global index of the chunk's first element
  seed: u32,
  p: f32,      // drop probability, 0 < p < 1
  scale: f32,  // 1 / (1 − p)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

// The hash of element k for this seed (pcg and uniform01 are in common.wgsl).
fn element_hash(k: u32) -> u32 {
  return pcg(pcg(k ^ pcg(p.seed ^ 0xd1b54a32u)) + p.seed);
}

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let kept = uniform01(element_hash(p.start + i)) >= p.p;
  y[i] = select(0.0, x[i] * p.scale, kept);
}
