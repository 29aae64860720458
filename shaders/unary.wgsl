// Elementwise f32 functions y = f(x), selected by the OP override (one pipeline per op).
// Entry `forward`: y = f(x). Entry `backward`: dx = dy * f'(x) (uses x, and y where cheaper).
override OP: u32 = 0u;
const WG: u32 = 256u;

const NEG: u32 = 0u;
const EXP: u32 = 1u;
const LOG: u32 = 2u;
const SQRT: u32 = 3u;
const TANH: u32 = 4u;
const RELU: u32 = 5u;
const GELU: u32 = 6u;
const POW: u32 = 7u;      // x ^ a
const AFFINE: u32 = 8u;   // a * x + b
const SIGMOID: u32 = 9u;
const ABS: u32 = 10u;
const RSQRT: u32 = 11u;

struct Params {
  n: u32,
  a: f32,
  b: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;

// WGSL tanh is NaN for large |x| on some drivers: clamp (tanh(±15) == ±1 in f32).
fn safe_tanh(v: f32) -> f32 {
  return tanh(clamp(v, -15.0, 15.0));
}

const GELU_C: f32 = 0.7978845608028654;  // sqrt(2/pi)

fn pow_scalar(v: f32, e: f32) -> f32 {
  if (e == 0.0) { return 1.0; }
  if (e == 1.0) { return v; }
  if (e == 2.0) { return v * v; }
  if (v < 0.0 && e == round(e)) {
    let m = pow(-v, e);
    return select(m, -m, (i32(e) & 1) == 1);
  }
  return pow(v, e);
}

fn f(v: f32) -> f32 {
  switch OP {
    case NEG: { return -v; }
    case EXP: { return exp(v); }
    case LOG: { return log(v); }
    case SQRT: { return sqrt(v); }
    case TANH: { return safe_tanh(v); }
    case RELU: { return max(v, 0.0); }
    case GELU: { return 0.5 * v * (1.0 + safe_tanh(GELU_C * (v + 0.044715 * v * v * v))); }
    case POW: { return pow_scalar(v, p.a); }
    case AFFINE: { return p.a * v + p.b; }
    case SIGMOID: { return 1.0 / (1.0 + exp(-v)); }
    case ABS: { return abs(v); }
    case RSQRT: { return inverseSqrt(v); }
    default: { return v; }
  }
}

// Derivative df/dx at v.
fn df(v: f32) -> f32 {
  switch OP {
    case NEG: { return -1.0; }
    case EXP: { return exp(v); }
    case LOG: { return 1.0 / v; }
    case SQRT: { return 0.5 / sqrt(v); }
    case TANH: { let t = safe_tanh(v); return 1.0 - t * t; }
    case RELU: { return select(0.0, 1.0, v > 0.0); }
    case GELU: {
      let inner = GELU_C * (v + 0.044715 * v * v * v);
      let t = safe_tanh(inner);
      return 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * GELU_C * (1.0 + 3.0 * 0.044715 * v * v);
    }
    case POW: { return p.a * pow_scalar(v, p.a - 1.0); }
    case AFFINE: { return p.a; }
    case SIGMOID: { let s = 1.0 / (1.0 + exp(-v)); return s * (1.0 - s); }
    case ABS: { return sign(v); }
    case RSQRT: { return -0.5 * inverseSqrt(v) / v; }
    default: { return 1.0; }
  }
}

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_index(gid, nwg, WG);
  if (i < p.n) { y[i] = f(x[i]); }
}

// y here is the output gradient dx.
@compute @workgroup_size(WG)
fn backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_index(gid, nwg, WG);
  if (i < p.n) { y[i] = dy[i] * df(x[i]); }
}
