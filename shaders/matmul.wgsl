// Batched matrix multiply C = op(A) · op(B) (+ C when accumulating), f32.
//   op(A) is M×K: A is stored [M, K] (row stride lda), or [K, M] when TRANS_A.
//   op(B) is K×N: B is stored [K, N] (row stride ldb), or [N, K] when TRANS_B.
//   C is stored [M, N] (row stride ldc), or [N, M] when C_TRANS.
// Buffers are arrays of vec4: rows that start at a multiple of 4 elements load four values at once
// (VEC_* = true, chosen on the host); others load the two vec4s they straddle and shift. A and B are
// read through a_quad/a_at and b_quad/b_at (ops/gemm/operands.ts): f32 vec4s, or f16 packed four to
// a vec2u and widened exactly (mixed precision); arithmetic and C are f32 either way.
//
// Register blocking without shared memory (fastest on CPU adapters such as llvmpipe, where
// barriers are costly and every storage load is a per-lane gather): each thread owns a tile of
// 4×4 micro-blocks in mat4x4 accumulators and walks K four at a time, loading each operand
// micro-block once per step. A micro-block is held transposed (column r = row r of the block), so
// C_blkᵀ += B_blkᵀ · A_blkᵀ is one mat4x4 product; transposed operands are transposed on load.
// Everything is written out by hand: loops over accumulators or dynamic indexing of local arrays
// push them to memory on llvmpipe (3-4× slower).
//
// Entries (the host splits C into rectangles and passes their element offsets):
//   tile32x16  8×4 micro-blocks per thread; interior only (whole tiles, no bounds checks, no
//              accumulation, VEC_A and VEC_B). CPU adapters.
//   tile16x16  4×4 micro-blocks per thread, otherwise as tile32x16 (half the accumulators: the
//              autotune's other choice for CPU adapters, see ops/gemm/autotune.ts).
//   tile4x16   1×4 micro-blocks per thread; any rectangle (edges, few rows, unaligned operands,
//              accumulation). Tiles overhanging M or N read whatever lies beyond (robust access
//              keeps reads inside the binding) and never store it.
//   simple     one output per thread, scalar: adds the last K % 4 terms (the tiles need K % 4 == 0),
//              and computes tiny problems.
//   pad_rows   copies an operand with unaligned rows to one with rows padded to a multiple of 4.
// Grid: x = column tiles / WG, y = row tiles, z = batch entries.
override TRANS_A: bool = false;
override TRANS_B: bool = false;
override VEC_A: bool = true;
override VEC_B: bool = true;
override VEC_C: bool = true;
override C_TRANS: bool = false;  // C stored transposed: element (i, j) at j * ldc + i (narrow N, see matmul.ts)
override WG: u32 = 16u;

struct Params {
  m: u32,
  n: u32,
  k: u32,
  accumulate: u32,     // 1: C += op(A)·op(B)
  lda: u32,
  ldb: u32,
  ldc: u32,
  rank: u32,           // batch rank (collapsed)
  off_a: u32,          // element offsets inside the bindings
  off_b: u32,
  off_c: u32,
  batch0: u32,         // first batch entry of this dispatch
  stride_c: u32,       // elements between batch entries of C
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
  shape: array<vec4u, 2>,     // batch dims
  stride_a: array<vec4u, 2>,  // batch strides (0 where broadcast)
  stride_b: array<vec4u, 2>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<a_word>;  // f32 vec4s or f16 packed halves (ops/gemm/operands.ts)
@group(0) @binding(2) var<storage, read> b: array<b_word>;
@group(0) @binding(3) var<storage, read_write> c: array<vec4f>;

// Four consecutive elements starting at element e: one vec4 when e is a multiple of 4 (VEC_*),
// else the two vec4s it straddles, shifted into place.
fn shifted(lo: vec4f, hi: vec4f, s: u32) -> vec4f {
  let one = select(vec4f(lo.w, hi.xyz), vec4f(lo.yzw, hi.x), s == 1u);
  return select(select(one, vec4f(lo.zw, hi.xy), s == 2u), lo, s == 0u);
}

fn vec_a(e: u32) -> vec4f {
  if (VEC_A) { return a_quad(e >> 2u); }
  return shifted(a_quad(e >> 2u), a_quad((e >> 2u) + 1u), e & 3u);
}

fn vec_b(e: u32) -> vec4f {
  if (VEC_B) { return b_quad(e >> 2u); }
  return shifted(b_quad(e >> 2u), b_quad((e >> 2u) + 1u), e & 3u);
}

// op(A)[i..i+3, k..k+3] transposed: column r = op(A)[i + r, k..k+3]. `base` is the element offset of A.
fn block_a(base: u32, i: u32, k: u32) -> mat4x4f {
  let ld = p.lda;
  if (TRANS_A) {
    let e = base + k * ld + i;
    return transpose(mat4x4f(vec_a(e), vec_a(e + ld), vec_a(e + 2u * ld), vec_a(e + 3u * ld)));
  }
  let e = base + i * ld + k;
  return mat4x4f(vec_a(e), vec_a(e + ld), vec_a(e + 2u * ld), vec_a(e + 3u * ld));
}

// op(B)[k..k+3, j..j+3] transposed: column s = op(B)[k + s, j..j+3].
fn block_b(base: u32, k: u32, j: u32) -> mat4x4f {
  let ld = p.ldb;
  if (TRANS_B) {
    let e = base + j * ld + k;
    return transpose(mat4x4f(vec_b(e), vec_b(e + ld), vec_b(e + 2u * ld), vec_b(e + 3u * ld)));
  }
  let e = base + k * ld + j;
  return mat4x4f(vec_b(e), vec_b(e + ld), vec_b(e + 2u * ld), vec_b(e + 3u * ld));
}

// Element index of C(i, j), and the distance between C(i, j) and C(i, j + 1).
fn c_index(i: u32, j: u32) -> u32 {
  return select(i * p.ldc + j, j * p.ldc + i, C_TRANS);
}

fn c_step() -> u32 {
  return select(1u, p.ldc, C_TRANS);
}

fn elem_c(e: u32) -> f32 {
  return c[e >> 2u][e & 3u];
}

fn set_c(e: u32, x: f32) {
  c[e >> 2u][e & 3u] = x;
}

// Writes C(i, j..j+3) = v, starting at element e (a vec4 store when aligned).
fn put(e: u32, v: vec4f) {
  if (VEC_C) {
    c[e >> 2u] = v;
  } else {
    set_c(e, v.x);
    set_c(e + 1u, v.y);
    set_c(e + 2u, v.z);
    set_c(e + 3u, v.w);
  }
}

// Writes (or adds) the in-range part of C_blkᵀ = m at rows i.., columns j.. (scalar stores: they
// are few next to the loads of the K loop, and one code path compiles faster).
fn store(base: u32, i: u32, j: u32, m: mat4x4f) {
  if (j >= p.n) { return; }
  let s = c_step();
  for (var r = 0u; r < 4u; r++) {
    if (i + r < p.m) {
      let e = base + c_index(i + r, j);
      var v = m[r];
      if (p.accumulate != 0u) { v += vec4f(elem_c(e), elem_c(e + s), elem_c(e + 2u * s), elem_c(e + 3u * s)); }
      set_c(e, v.x);
      if (j + 1u < p.n) { set_c(e + s, v.y); }
      if (j + 2u < p.n) { set_c(e + 2u * s, v.z); }
      if (j + 3u < p.n) { set_c(e + 3u * s, v.w); }
    }
  }
}

// Writes rows i..i+3, columns j..j+15 of C from four micro-blocks (all in range, no accumulation,
// C not transposed).
fn store_full(base: u32, i: u32, j: u32, m0: mat4x4f, m1: mat4x4f, m2: mat4x4f, m3: mat4x4f) {
  for (var r = 0u; r < 4u; r++) {
    let e = base + (i + r) * p.ldc + j;
    put(e, m0[r]);
    put(e + 4u, m1[r]);
    put(e + 8u, m2[r]);
    put(e + 12u, m3[r]);
  }
}

struct Bases {
  a: u32,
  b: u32,
  c: u32,
}

// Element offsets of batch entry z's matrices.
fn bases(z: u32) -> Bases {
  let e = z + p.batch0;
  return Bases(
    p.off_a + strided_offset(e, p.rank, p.shape, p.stride_a),
    p.off_b + strided_offset(e, p.rank, p.shape, p.stride_b),
    p.off_c + z * p.stride_c,
  );
}

@compute @workgroup_size(WG)
fn tile32x16(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let j = gid.x * 16u;
  let i = wid.y * 32u;
  if (j >= p.n) { return; }
  let base = bases(wid.z);
  var c00 = mat4x4f(); var c01 = mat4x4f(); var c02 = mat4x4f(); var c03 = mat4x4f();
  var c10 = mat4x4f(); var c11 = mat4x4f(); var c12 = mat4x4f(); var c13 = mat4x4f();
  var c20 = mat4x4f(); var c21 = mat4x4f(); var c22 = mat4x4f(); var c23 = mat4x4f();
  var c30 = mat4x4f(); var c31 = mat4x4f(); var c32 = mat4x4f(); var c33 = mat4x4f();
  var c40 = mat4x4f(); var c41 = mat4x4f(); var c42 = mat4x4f(); var c43 = mat4x4f();
  var c50 = mat4x4f(); var c51 = mat4x4f(); var c52 = mat4x4f(); var c53 = mat4x4f();
  var c60 = mat4x4f(); var c61 = mat4x4f(); var c62 = mat4x4f(); var c63 = mat4x4f();
  var c70 = mat4x4f(); var c71 = mat4x4f(); var c72 = mat4x4f(); var c73 = mat4x4f();
  for (var k = 0u; k < p.k; k += 4u) {
    let b0 = block_b(base.b, k, j);
    let b1 = block_b(base.b, k, j + 4u);
    let b2 = block_b(base.b, k, j + 8u);
    let b3 = block_b(base.b, k, j + 12u);
    let a0 = block_a(base.a, i, k);
    c00 += b0 * a0; c01 += b1 * a0; c02 += b2 * a0; c03 += b3 * a0;
    let a1 = block_a(base.a, i + 4u, k);
    c10 += b0 * a1; c11 += b1 * a1; c12 += b2 * a1; c13 += b3 * a1;
    let a2 = block_a(base.a, i + 8u, k);
    c20 += b0 * a2; c21 += b1 * a2; c22 += b2 * a2; c23 += b3 * a2;
    let a3 = block_a(base.a, i + 12u, k);
    c30 += b0 * a3; c31 += b1 * a3; c32 += b2 * a3; c33 += b3 * a3;
    let a4 = block_a(base.a, i + 16u, k);
    c40 += b0 * a4; c41 += b1 * a4; c42 += b2 * a4; c43 += b3 * a4;
    let a5 = block_a(base.a, i + 20u, k);
    c50 += b0 * a5; c51 += b1 * a5; c52 += b2 * a5; c53 += b3 * a5;
    let a6 = block_a(base.a, i + 24u, k);
    c60 += b0 * a6; c61 += b1 * a6; c62 += b2 * a6; c63 += b3 * a6;
    let a7 = block_a(base.a, i + 28u, k);
    c70 += b0 * a7; c71 += b1 * a7; c72 += b2 * a7; c73 += b3 * a7;
  }
  store_full(base.c, i + 0u, j, c00, c01, c02, c03);
  store_full(base.c, i + 4u, j, c10, c11, c12, c13);
  store_full(base.c, i + 8u, j, c20, c21, c22, c23);
  store_full(base.c, i + 12u, j, c30, c31, c32, c33);
  store_full(base.c, i + 16u, j, c40, c41, c42, c43);
  store_full(base.c, i + 20u, j, c50, c51, c52, c53);
  store_full(base.c, i + 24u, j, c60, c61, c62, c63);
  store_full(base.c, i + 28u, j, c70, c71, c72, c73);
}

@compute @workgroup_size(WG)
fn tile16x16(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let j = gid.x * 16u;
  let i = wid.y * 16u;
  if (j >= p.n) { return; }
  let base = bases(wid.z);
  var c00 = mat4x4f(); var c01 = mat4x4f(); var c02 = mat4x4f(); var c03 = mat4x4f();
  var c10 = mat4x4f(); var c11 = mat4x4f(); var c12 = mat4x4f(); var c13 = mat4x4f();
  var c20 = mat4x4f(); var c21 = mat4x4f(); var c22 = mat4x4f(); var c23 = mat4x4f();
  var c30 = mat4x4f(); var c31 = mat4x4f(); var c32 = mat4x4f(); var c33 = mat4x4f();
  for (var k = 0u; k < p.k; k += 4u) {
    let b0 = block_b(base.b, k, j);
    let b1 = block_b(base.b, k, j + 4u);
    let b2 = block_b(base.b, k, j + 8u);
    let b3 = block_b(base.b, k, j + 12u);
    let a0 = block_a(base.a, i, k);
    c00 += b0 * a0; c01 += b1 * a0; c02 += b2 * a0; c03 += b3 * a0;
    let a1 = block_a(base.a, i + 4u, k);
    c10 += b0 * a1; c11 += b1 * a1; c12 += b2 * a1; c13 += b3 * a1;
    let a2 = block_a(base.a, i + 8u, k);
    c20 += b0 * a2; c21 += b1 * a2; c22 += b2 * a2; c23 += b3 * a2;
    let a3 = block_a(base.a, i + 12u, k);
    c30 += b0 * a3; c31 += b1 * a3; c32 += b2 * a3; c33 += b3 * a3;
  }
  store_full(base.c, i + 0u, j, c00, c01, c02, c03);
  store_full(base.c, i + 4u, j, c10, c11, c12, c13);
  store_full(base.c, i + 8u, j, c20, c21, c22, c23);
  store_full(base.c, i + 12u, j, c30, c31, c32, c33);
}

@compute @workgroup_size(WG)
fn tile4x16(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let j = gid.x * 16u;
  let i = wid.y * 4u;
  if (j >= p.n) { return; }
  let base = bases(wid.z);
  var c00 = mat4x4f(); var c01 = mat4x4f(); var c02 = mat4x4f(); var c03 = mat4x4f();
  for (var k = 0u; k < p.k; k += 4u) {
    let a0 = block_a(base.a, i, k);
    c00 += block_b(base.b, k, j) * a0;
    c01 += block_b(base.b, k, j + 4u) * a0;
    c02 += block_b(base.b, k, j + 8u) * a0;
    c03 += block_b(base.b, k, j + 12u) * a0;
  }
  store(base.c, i, j, c00); store(base.c, i, j + 4u, c01); store(base.c, i, j + 8u, c02); store(base.c, i, j + 12u, c03);
}

// One output per thread, scalar loads: the last K % 4 terms of the tiled entries (added to C),
// and small problems.
@compute @workgroup_size(WG)
fn simple(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let j = gid.x;
  let i = wid.y;
  if (j >= p.n) { return; }
  let base = bases(wid.z);
  let sa = select(1u, p.lda, TRANS_A);
  var ea = base.a + select(i * p.lda, i, TRANS_A);
  let sb = select(p.ldb, 1u, TRANS_B);
  var eb = base.b + select(j, j * p.ldb, TRANS_B);
  var sum = 0.0;
  for (var k = 0u; k < p.k; k++) {
    sum += a_at(ea) * b_at(eb);
    ea += sa;
    eb += sb;
  }
  let e = base.c + c_index(i, j);
  if (p.accumulate != 0u) { sum += elem_c(e); }
  set_c(e, sum);
}

// Copies p.m rows of p.n elements (row stride lda, from element off_a of `a`) into `c` with row
// stride ldc (a multiple of 4 ≥ n, from element off_c, a multiple of 4), zero-filling the padding:
// operands with unaligned rows get aligned copies so that the tiles can load vec4s. One output
// vec4 per thread, on a 1-D grid folded into 2-D.
@compute @workgroup_size(WG)
fn pad_rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let q = linear_index(gid, nwg, WG);
  let per_row = p.ldc / 4u;
  if (q >= p.m * per_row) { return; }
  let col = (q % per_row) * 4u;
  let e = p.off_a + (q / per_row) * p.lda + col;
  c[(p.off_c >> 2u) + q] = vec4f(
    select(0.0, a_at(e), col < p.n),
    select(0.0, a_at(e + 1u), col + 1u < p.n),
    select(0.0, a_at(e + 2u), col + 2u < p.n),
    select(0.0, a_at(e + 3u), col + 3u < p.n),
  );
}
