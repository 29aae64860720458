// The epilogue of a linear layer, after its matmul y = x·Wᵀ ([rows, cols], flat): one pass computes
//   out = act(y + bias) + res
// where three kernels (a bias add, a GELU, a residual add) ran before. The arithmetic is theirs,
// operation for operation (shaders/binary.wgsl's add, shaders/unary.wgsl's GELU), so the result is
// bitwise the same. Tensors larger than one storage binding come in chunks: `first` is the flat
// index of the chunk's first element (for the bias column).
//   forward:  out = act(y + bias) + res
//   backward: out = dout·act'(y + bias)   (the gradient of y, and, summed over rows by the host, of bias)
override HAS_BIAS: bool = true;
override GELU: bool = false;
override HAS_RES: bool = false;
const WG: u32 = 256u;
const GELU_C: f32 = 0.7978845608028654;  // sqrt(2/pi)

struct Params {
  n: u32,      // elements in this chunk
  cols: u32,   // features per row (bias length)
  first: u32,  // flat index of the chunk's first element
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read> res: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;   // forward: the result; backward: dy
@group(0) @binding(5) var<storage, read> dout: array<f32>;

// WGSL tanh is NaN for large |x| on some drivers: clamp (tanh(±15) == ±1 in f32).
fn safe_tanh(v: f32) -> f32 {
  return tanh(clamp(v, -15.0, 15.0));
}

fn gelu(v: f32) -> f32 {
  return 0.5 * v * (1.0 + safe_tanh(GELU_C * (v + 0.044715 * v * v * v)));
}

fn gelu_grad(v: f32) -> f32 {
  let inner = GELU_C * (v + 0.044715 * v * v * v);
  let t = safe_tanh(inner);
  return 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * GELU_C * (1.0 + 3.0 * 0.044715 * v * v);
}

fn pre(i: u32) -> f32 {
  var v = y[i];
  if (HAS_BIAS) { v = v + bias[(p.first + i) % p.cols]; }
  return v;
}

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  var v = pre(i);
  if (GELU) { v = gelu(v); }
  if (HAS_RES) { v = res[i] + v; }
  out[i] = v;
}

@compute @workgroup_size(WG)
fn backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  out[i] = dout[i] * gelu_grad(pre(i));
}
