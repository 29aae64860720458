// Elementwise binary ops with NumPy broadcasting: out[i] = f(a[ia], b[ib]).
// Shapes arrive collapsed (adjacent dims merged where possible); RANK is the collapsed rank, and
// broadcast dims have stride 0. DTYPE 0 f32, 1 i32 (data as raw 32-bit words).
override OP: u32 = 0u;
override DTYPE: u32 = 0u;
override RANK: u32 = 1u;
const WG: u32 = 256u;

const ADD: u32 = 0u;
const SUB: u32 = 1u;
const MUL: u32 = 2u;
const DIV: u32 = 3u;
const MAXIMUM: u32 = 4u;
const MINIMUM: u32 = 5u;
// Comparisons give 1 or 0 in the operands' dtype.
const EQ: u32 = 6u;
const LT: u32 = 7u;
const LE: u32 = 8u;
const GT: u32 = 9u;
const GE: u32 = 10u;

struct Params {
  n: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
  shape: array<vec4u, 2>,     // output dims
  a_strides: array<vec4u, 2>,
  b_strides: array<vec4u, 2>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<u32>;
@group(0) @binding(2) var<storage, read> b: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;

fn f32op(x: f32, y: f32) -> f32 {
  switch OP {
    case ADD: { return x + y; }
    case SUB: { return x - y; }
    case MUL: { return x * y; }
    case DIV: { return x / y; }
    case MAXIMUM: { return max(x, y); }
    case MINIMUM: { return min(x, y); }
    case EQ: { return select(0.0, 1.0, x == y); }
    case LT: { return select(0.0, 1.0, x < y); }
    case LE: { return select(0.0, 1.0, x <= y); }
    case GT: { return select(0.0, 1.0, x > y); }
    case GE: { return select(0.0, 1.0, x >= y); }
    default: { return x; }
  }
}

fn i32op(x: i32, y: i32) -> i32 {
  switch OP {
    case ADD: { return x + y; }
    case SUB: { return x - y; }
    case MUL: { return x * y; }
    case DIV: {
      // Floor division, like torch.div(rounding_mode='floor') / Python //; 0 on division by zero.
      if (y == 0) { return 0; }
      let q = x / y;
      return select(q, q - 1, (x % y != 0) && ((x < 0) != (y < 0)));
    }
    case MAXIMUM: { return max(x, y); }
    case MINIMUM: { return min(x, y); }
    case EQ: { return select(0, 1, x == y); }
    case LT: { return select(0, 1, x < y); }
    case LE: { return select(0, 1, x <= y); }
    case GT: { return select(0, 1, x > y); }
    case GE: { return select(0, 1, x >= y); }
    default: { return x; }
  }
}

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let ia = strided_offset(i, RANK, p.shape, p.a_strides);
  let ib = strided_offset(i, RANK, p.shape, p.b_strides);
  if (DTYPE == 0u) {
    out[i] = bitcast<u32>(f32op(bitcast<f32>(a[ia]), bitcast<f32>(b[ib])));
  } else {
    out[i] = bitcast<u32>(i32op(bitcast<i32>(a[ia]), bitcast<i32>(b[ib])));
  }
}
