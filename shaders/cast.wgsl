// Conversions between f32 and f16 storage, one invocation per pair of elements (one 32-bit word of
// halves), with core WGSL only: f16 tensors are packed two per u32 word, so this runs on every
// adapter, shader-f16 or not. Rows are processed in binding-sized ranges (`n` elements of this
// range; the host starts ranges at even elements, so a word never straddles two).
//   to_f16: halves = round-to-nearest-even of wide (written out here rather than pack2x16float, whose
//           rounding WGSL leaves to the implementation: the bits are the same on every adapter and
//           match the CPU's toHalfBits); beyond the f16 range → ±Inf, NaN → NaN.
//   to_f32: wide = the halves' exact values (unpack2x16float).
//   to_f16_at: to_f16 into a range of an existing f16 tensor at any element offset (new KV-cache rows):
//           one invocation per target word; a word the range covers only half of keeps its other half
//           (no other invocation of the dispatch touches that word).
const WG: u32 = 256u;

struct Params {
  n: u32,         // elements in this range
  src_skip: u32,  // to_f16_at: elements of `wide` before the range's first source element
  dst_skip: u32,  // to_f16_at: halves of `halves` before the range's first target element
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> wide: array<f32>;
@group(0) @binding(2) var<storage, read_write> halves: array<u32>;

// The binary16 bits nearest to x (ties to even).
fn half_bits(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  let sign = (b >> 16u) & 0x8000u;
  let exponent = (b >> 23u) & 0xffu;
  let mantissa = b & 0x7fffffu;
  if (exponent == 0xffu) { return sign | 0x7c00u | select(0u, 0x200u, mantissa != 0u); }
  let e = i32(exponent) - 112;  // rebias 127 → 15
  if (e >= 31) { return sign | 0x7c00u; }
  if (e <= 0) {
    if (e < -10) { return sign; }
    let m = mantissa | 0x800000u;
    let shift = u32(14 - e);
    let rest = m & ((1u << shift) - 1u);
    let halfway = 1u << (shift - 1u);
    var out = m >> shift;
    if (rest > halfway || (rest == halfway && (out & 1u) == 1u)) { out += 1u; }
    return sign | out;
  }
  var out = (u32(e) << 10u) | (mantissa >> 13u);
  let rest = mantissa & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (out & 1u) == 1u)) { out += 1u; }  // a carry into the exponent is right too
  return sign | out;
}

@compute @workgroup_size(WG)
fn to_f16(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let w = linear_index(gid, nwg, WG);
  let i = 2u * w;
  if (i >= p.n) { return; }
  var hi = 0u;
  if (i + 1u < p.n) { hi = half_bits(wide[i + 1u]); }
  halves[w] = half_bits(wide[i]) | (hi << 16u);
}

@compute @workgroup_size(WG)
fn to_f32(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let w = linear_index(gid, nwg, WG);
  let i = 2u * w;
  if (i >= p.n) { return; }
  let pair = unpack2x16float(halves[w]);
  wide[i] = pair.x;
  if (i + 1u < p.n) { wide[i + 1u] = pair.y; }
}

@compute @workgroup_size(WG)
fn to_f16_at(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let word = p.dst_skip / 2u + linear_index(gid, nwg, WG);
  let end = p.dst_skip + p.n;
  let lo = 2u * word;
  if (lo >= end) { return; }
  var bits = 0u;
  if (lo < p.dst_skip || lo + 1u >= end) { bits = halves[word]; }  // a half outside the range stays
  for (var h = 0u; h < 2u; h++) {
    let e = lo + h;
    if (e >= p.dst_skip && e < end) {
      let shift = 16u * h;
      bits = (bits & ~(0xffffu << shift)) | (half_bits(wide[p.src_skip + e - p.dst_skip]) << shift);
    }
  }
  halves[word] = bits;
}
