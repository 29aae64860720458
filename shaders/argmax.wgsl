// Index of the maximum along one axis, viewed as [outer, R, inner]; one invocation per output,
// first index on ties, NaN counts as the maximum (like PyTorch). DTYPE 0 f32, 1 i32.
override DTYPE: u32 = 0u;
const WG: u32 = 256u;

struct Params {
  outer: u32,
  r: u32,
  inner: u32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<i32>;

fn greater(a: u32, b: u32) -> bool {
  if (DTYPE == 0u) {
    let fa = bitcast<f32>(a);
    let fb = bitcast<f32>(b);
    return (fa > fb) || (fa != fa && fb == fb);
  }
  return bitcast<i32>(a) > bitcast<i32>(b);
}

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_index(gid, nwg, WG);
  if (i >= p.outer * p.inner) { return; }
  let o = i / p.inner;
  let k = i % p.inner;
  let base = o * p.r * p.inner + k;
  var best = x[base];
  var best_j = 0u;
  for (var j = 1u; j < p.r; j++) {
    let v = x[base + j * p.inner];
    if (greater(v, best)) { best = v; best_j = j; }
  }
  out[i] = i32(best_j);
}
