// Matrix-vector products and other few-row matmuls (decoding: one token's activations times a weight):
// the kernel lab's `gemv` (CPU adapters) and `gemv_splitk` (GPUs) variants, ops/gemm/variants.ts. Same
// problem, Params and bindings as shaders/matmul.wgsl: C = op(A)·op(B) (+ C when accumulating), f32, with
//   op(A) is M×K: A stored [M, K] (row stride lda), or [K, M] with flag TRANS_A;
//   op(B) is K×N: B stored [K, N] (row stride ldb), or [N, K] when TRANS_B (an [out, in] weight);
//   C stored [M, N] (row stride ldc), or [N, M] with flag C_TRANS.
//
// A workgroup computes ROWS rows of C (exactly: no wasted rows, unlike the 4-row register tiles), and
// each thread 4·QUADS columns of them. Every element of B is loaded once per row block, so the cost is
// the weight's size. gemv_splitk (GPUs): SPLIT threads share a column quad, each summing a strided part
// of K (consecutive threads read consecutive vec4s of a transposed weight's row), and add their partial
// sums through workgroup memory. gemv (CPU adapters): SPLIT = 1, each thread walks all of K in the same
// order as the register-tile entries of matmul.wgsl (decoding gives the same bits as a prompt's rows).
// The last K % 4 terms are added after the vec4 steps, as matmul.wgsl's `simple` entry does.
// The weight's layout is specialised (it is read in the inner loop); the rest are bits of p.flags
// (numbered as in matmul_shared.wgsl), read outside it or for the few activation rows.
override TRANS_B: bool = false;
override VEC_B: bool = true;
const TRANS_A = 1u;
const VEC_A = 4u;
const C_TRANS = 32u;
override ROWS: u32 = 1u;   // rows of C per workgroup, 1..4
override QUADS: u32 = 1u;  // column quads per thread: 1, or 4 (CPU adapters: one row load serves 16 columns)
override SPLIT: u32 = 1u;  // threads sharing one column quad along K (a power of two dividing WG; QUADS = 1)
override WG: u32 = 16u;    // at most 64

// matmul.wgsl's Params, with the layout flags in its first spare word.
struct Params {
  m: u32,
  n: u32,
  k: u32,
  accumulate: u32,
  lda: u32,
  ldb: u32,
  ldc: u32,
  rank: u32,
  off_a: u32,
  off_b: u32,
  off_c: u32,
  batch0: u32,
  stride_c: u32,
  flags: u32,
  _pad1: u32,
  _pad2: u32,
  shape: array<vec4u, 2>,
  stride_a: array<vec4u, 2>,
  stride_b: array<vec4u, 2>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<a_word>;  // f32 vec4s or f16 packed halves (ops/gemm/operands.ts)
@group(0) @binding(2) var<storage, read> b: array<b_word>;
@group(0) @binding(3) var<storage, read_write> c: array<vec4f>;

// Partial sums of the SPLIT threads of each column quad, one per thread (WG ≤ 64).
var<workgroup> partial: array<mat4x4f, 64>;

fn shifted(lo: vec4f, hi: vec4f, s: u32) -> vec4f {
  let one = select(vec4f(lo.w, hi.xyz), vec4f(lo.yzw, hi.x), s == 1u);
  return select(select(one, vec4f(lo.zw, hi.xy), s == 2u), lo, s == 0u);
}

fn has(flag: u32) -> bool {
  return (p.flags & flag) != 0u;
}

fn vec_a(e: u32) -> vec4f {
  if (has(VEC_A)) { return a_quad(e >> 2u); }
  return shifted(a_quad(e >> 2u), a_quad((e >> 2u) + 1u), e & 3u);
}

fn vec_b(e: u32) -> vec4f {
  if (VEC_B) { return b_quad(e >> 2u); }
  return shifted(b_quad(e >> 2u), b_quad((e >> 2u) + 1u), e & 3u);
}

fn elem_a(e: u32) -> f32 {
  return a_at(e);
}

fn elem_b(e: u32) -> f32 {
  return b_at(e);
}

// op(A)[i, k..k+3].
fn row_a(base: u32, i: u32, k: u32) -> vec4f {
  if (has(TRANS_A)) {
    let e = base + k * p.lda + i;
    return vec4f(elem_a(e), elem_a(e + p.lda), elem_a(e + 2u * p.lda), elem_a(e + 3u * p.lda));
  }
  return vec_a(base + i * p.lda + k);
}

// op(B)[k..k+3, j..j+3] as four rows (column r = op(B)[k + r, j..j+3]); transposed B is transposed on load.
fn block_b(base: u32, k: u32, j: u32) -> mat4x4f {
  let ld = p.ldb;
  if (TRANS_B) {
    let e = base + j * ld + k;
    return transpose(mat4x4f(vec_b(e), vec_b(e + ld), vec_b(e + 2u * ld), vec_b(e + 3u * ld)));
  }
  let e = base + k * ld + j;
  return mat4x4f(vec_b(e), vec_b(e + ld), vec_b(e + 2u * ld), vec_b(e + 3u * ld));
}

// Σ over the last K % 4 terms of op(A)[i, k] · op(B)[k, j..j+3] (scalar loads).
fn tail(base_a: u32, base_b: u32, i: u32, j: u32, k4: u32) -> vec4f {
  var sum = vec4f();
  for (var k = k4; k < p.k; k++) {
    let x = elem_a(base_a + select(i * p.lda + k, k * p.lda + i, has(TRANS_A)));
    let e = base_b + select(k * p.ldb + j, j * p.ldb + k, TRANS_B);
    let s = select(1u, p.ldb, TRANS_B);
    sum += x * vec4f(elem_b(e), elem_b(e + s), elem_b(e + 2u * s), elem_b(e + 3u * s));
  }
  return sum;
}

fn elem_c(e: u32) -> f32 {
  return c[e >> 2u][e & 3u];
}

fn set_c(e: u32, x: f32) {
  c[e >> 2u][e & 3u] = x;
}

// Writes (or adds) the in-range part of C(i, j..j+3) = v.
fn store_row(base: u32, i: u32, j: u32, v: vec4f) {
  if (i >= p.m || j >= p.n) { return; }
  let e = base + select(i * p.ldc + j, j * p.ldc + i, has(C_TRANS));
  let s = select(1u, p.ldc, has(C_TRANS));
  for (var q = 0u; q < 4u; q++) {
    if (j + q < p.n) {
      var x = v[q];
      if (p.accumulate != 0u) { x += elem_c(e + q * s); }
      set_c(e + q * s, x);
    }
  }
}

// The products of one column quad (columns j..j+3) with the ROWS rows a0..a3, added to acc's columns.
fn mac_rows(acc: ptr<function, mat4x4f>, bk: mat4x4f, a0: vec4f, a1: vec4f, a2: vec4f, a3: vec4f) {
  (*acc)[0] += bk * a0;
  if (ROWS > 1u) { (*acc)[1] += bk * a1; }
  if (ROWS > 2u) { (*acc)[2] += bk * a2; }
  if (ROWS > 3u) { (*acc)[3] += bk * a3; }
}

// Adds the K tail to the quad's sums and stores its in-range part (rows i0.., columns j..j+3).
fn finish(base_a: u32, base_b: u32, base_c: u32, i0: u32, j: u32, k4: u32, acc: mat4x4f) {
  if (j >= p.n) { return; }
  let last = p.m - 1u;
  for (var r = 0u; r < ROWS; r++) {
    var v = acc[r];
    if (k4 < p.k) { v = tail(base_a, base_b, min(i0 + r, last), j, k4) + v; }
    store_row(base_c, i0 + r, j, v);
  }
}

@compute @workgroup_size(WG)
fn gemv(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let slice = lid.x % SPLIT;
  let j = (wid.x * (WG / SPLIT) + lid.x / SPLIT) * 4u * QUADS;
  let i0 = wid.y * ROWS;
  let e = wid.z + p.batch0;
  let base_a = p.off_a + strided_offset(e, p.rank, p.shape, p.stride_a);
  let base_b = p.off_b + strided_offset(e, p.rank, p.shape, p.stride_b);
  let base_c = p.off_c + wid.z * p.stride_c;
  // Rows past M re-read row M - 1 and are never stored; columns past N read whatever lies beyond
  // (robust access keeps it inside the binding) and are never stored either.
  let last = p.m - 1u;
  let k4 = p.k - p.k % 4u;
  // acc_q: column quad q (columns j + 4q..), its column r = C(i0 + r, ...).
  var acc0 = mat4x4f(); var acc1 = mat4x4f(); var acc2 = mat4x4f(); var acc3 = mat4x4f();
  if (j < p.n) {
    for (var k = slice * 4u; k < k4; k += SPLIT * 4u) {
      let a0 = row_a(base_a, i0, k);
      var a1 = vec4f(); var a2 = vec4f(); var a3 = vec4f();
      if (ROWS > 1u) { a1 = row_a(base_a, min(i0 + 1u, last), k); }
      if (ROWS > 2u) { a2 = row_a(base_a, min(i0 + 2u, last), k); }
      if (ROWS > 3u) { a3 = row_a(base_a, min(i0 + 3u, last), k); }
      mac_rows(&acc0, block_b(base_b, k, j), a0, a1, a2, a3);
      if (QUADS > 1u) {
        mac_rows(&acc1, block_b(base_b, k, j + 4u), a0, a1, a2, a3);
        mac_rows(&acc2, block_b(base_b, k, j + 8u), a0, a1, a2, a3);
        mac_rows(&acc3, block_b(base_b, k, j + 12u), a0, a1, a2, a3);
      }
    }
  }
  if (SPLIT > 1u) {
    // Sum the SPLIT partial sums of each quad, in slice order (the host sets QUADS = 1 with SPLIT > 1).
    partial[lid.x] = acc0;
    workgroupBarrier();
    if (slice == 0u) {
      for (var s = 1u; s < SPLIT; s++) { acc0 += partial[lid.x + s]; }
    }
  }
  if (slice != 0u) { return; }
  finish(base_a, base_b, base_c, i0, j, k4, acc0);
  if (QUADS > 1u) {
    finish(base_a, base_b, base_c, i0, j + 4u, k4, acc1);
    finish(base_a, base_b, base_c, i0, j + 8u, k4, acc2);
    finish(base_a, base_b, base_c, i0, j + 12u, k4, acc3);
  }
}
