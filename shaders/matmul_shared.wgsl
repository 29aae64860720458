// Batched matrix multiply with workgroup shared-memory block tiles (GPU-oriented: the kernel lab's
// `shared64` and `shared128` variants, ops/gemm/variants.ts). Same problem, Params and bindings as
// shaders/matmul.wgsl: C = op(A)·op(B) (+ C when accumulating), f32,
//   op(A) is M×K: A stored [M, K] (row stride lda), or [K, M] with flag TRANS_A;
//   op(B) is K×N: B stored [K, N] (row stride ldb), or [N, K] with flag TRANS_B;
//   C stored [M, N] (row stride ldc), or [N, M] with flag C_TRANS.
//
// A workgroup of 16×16 threads computes a BM×BN block of C (BM = 16·TM, BN = 16·TN), walking K in
// steps of BK = 16. Each step the threads copy op(A)[BM×BK] and op(B)[BK×BN] into workgroup memory
// (four consecutive stored elements at a time: one vec4 load where rows are aligned, VEC_*; zeros
// outside the matrices), then each thread accumulates its TM×TN outputs from there. The tiles are
// stored k-major (As[k][i], Bs[k][j]) so that the inner loop reads whole vec4s. Any M, N, K: edges are
// zero-filled and stores bounds-checked, so one dispatch covers a problem.
//
// On CPU adapters (llvmpipe, SwiftShader) barriers and workgroup memory are slow and the
// register-tile entries of matmul.wgsl are the fast path; this kernel is for real GPUs (tested on
// every adapter for correctness).
//
// Two entries: `block` copies each K step's tiles straight from storage into workgroup memory;
// `block_prefetch` (the `shared64_prefetch` / `shared128_prefetch` variants) double-buffers through
// registers: while the threads multiply the tiles of step s out of workgroup memory, the loads of
// step s + 1 are already in flight into registers, so global-memory latency hides behind the FMAs
// (a second pair of tiles in workgroup memory would exceed the 16 KiB WebGPU guarantees at TM = 8).
// Both sum in the same order: their results are bitwise the same.
override TM: u32 = 8u;  // rows of C per thread: 4 or 8
override TN: u32 = 8u;  // columns of C per thread: 4 or 8

// Bits of p.flags. Layouts are uniforms, not override constants: they steer only the tile copies and
// the stores (uniform branches, cheap on GPUs), so one pipeline per tile shape serves every product.
const TRANS_A = 1u;  // A stored [K, M]
const TRANS_B = 2u;  // B stored [N, K]
const VEC_A = 4u;    // rows of A start at multiples of 4 elements (vec4 loads)
const VEC_B = 8u;
const VEC_C = 16u;
const C_TRANS = 32u; // C stored [N, M]

const BK = 16u;

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

// [BK][BM/4] and [BK][BN/4] vec4s, sized for the largest tiles (TM = TN = 8: 2 × 8 KiB).
var<workgroup> As: array<vec4f, 512>;
var<workgroup> Bs: array<vec4f, 512>;

fn has(flag: u32) -> bool {
  return (p.flags & flag) != 0u;
}

// `count` (0..4) consecutive elements of `a` from element e, zeros after them.
fn load_a(e: u32, count: u32) -> vec4f {
  if (has(VEC_A) && count == 4u) { return a_quad(e >> 2u); }
  var v = vec4f();
  for (var q = 0u; q < count; q++) { v[q] = a_at(e + q); }
  return v;
}

fn load_b(e: u32, count: u32) -> vec4f {
  if (has(VEC_B) && count == 4u) { return b_quad(e >> 2u); }
  var v = vec4f();
  for (var q = 0u; q < count; q++) { v[q] = b_at(e + q); }
  return v;
}

fn clamp4(x: u32, limit: u32) -> u32 {
  return select(min(limit - x, 4u), 0u, x >= limit);
}

// A K step's tiles take BK·BM/4 and BK·BN/4 load units (four consecutive stored elements each): UNITS_A
// and UNITS_B per thread (256 threads), held in registers between their load and their store.
const MAX_UNITS = 2u;  // TM = TN = 8: 16 · 32 / 256
alias Units = array<vec4f, MAX_UNITS>;

// Loads this thread's units of op(A)[row0.., k0..k0+BK): along K (A stored [M, K]) or along M
// (TRANS_A); zeros outside the matrix.
fn fetch_a(base: u32, row0: u32, k0: u32, tid: u32) -> Units {
  let bm4 = TM * 4u;  // BM / 4
  var v: Units;
  for (var s = 0u; s < BK * bm4 / 256u; s++) {
    let u = tid + s * 256u;
    if (has(TRANS_A)) {
      let k = u / bm4;
      let i = (u % bm4) * 4u;
      if (k0 + k < p.k) { v[s] = load_a(base + (k0 + k) * p.lda + row0 + i, clamp4(row0 + i, p.m)); }
    } else {
      let i = u / (BK / 4u);
      let k = (u % (BK / 4u)) * 4u;
      if (row0 + i < p.m) { v[s] = load_a(base + (row0 + i) * p.lda + k0 + k, clamp4(k0 + k, p.k)); }
    }
  }
  return v;
}

// Stores units fetched by `fetch_a` into As (TRANS_A: one vec4 store; else scattered into four k rows).
fn put_a(v: Units, tid: u32) {
  let bm4 = TM * 4u;
  for (var s = 0u; s < BK * bm4 / 256u; s++) {
    let u = tid + s * 256u;
    if (has(TRANS_A)) {
      As[u] = v[s];  // k = u / bm4, i / 4 = u % bm4
    } else {
      let i = u / (BK / 4u);
      let k = (u % (BK / 4u)) * 4u;
      for (var q = 0u; q < 4u; q++) { As[(k + q) * bm4 + i / 4u][i % 4u] = v[s][q]; }
    }
  }
}

// Loads this thread's units of op(B)[k0..k0+BK, col0..): along N, or along K (TRANS_B).
fn fetch_b(base: u32, col0: u32, k0: u32, tid: u32) -> Units {
  let bn4 = TN * 4u;  // BN / 4
  var v: Units;
  for (var s = 0u; s < BK * bn4 / 256u; s++) {
    let u = tid + s * 256u;
    if (has(TRANS_B)) {
      let j = u / (BK / 4u);
      let k = (u % (BK / 4u)) * 4u;
      if (col0 + j < p.n) { v[s] = load_b(base + (col0 + j) * p.ldb + k0 + k, clamp4(k0 + k, p.k)); }
    } else {
      let k = u / bn4;
      let j = (u % bn4) * 4u;
      if (k0 + k < p.k) { v[s] = load_b(base + (k0 + k) * p.ldb + col0 + j, clamp4(col0 + j, p.n)); }
    }
  }
  return v;
}

// Stores units fetched by `fetch_b` into Bs (one vec4 store; TRANS_B: scattered into four k rows).
fn put_b(v: Units, tid: u32) {
  let bn4 = TN * 4u;
  for (var s = 0u; s < BK * bn4 / 256u; s++) {
    let u = tid + s * 256u;
    if (has(TRANS_B)) {
      let j = u / (BK / 4u);
      let k = (u % (BK / 4u)) * 4u;
      for (var q = 0u; q < 4u; q++) { Bs[(k + q) * bn4 + j / 4u][j % 4u] = v[s][q]; }
    } else {
      Bs[u] = v[s];  // k = u / bn4, j / 4 = u % bn4
    }
  }
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
  if (has(VEC_C) && !has(C_TRANS) && p.accumulate == 0u && j + 3u < p.n) {
    c[e >> 2u] = v;
    return;
  }
  for (var q = 0u; q < 4u; q++) {
    if (j + q < p.n) {
      var x = v[q];
      if (p.accumulate != 0u) { x += elem_c(e + q * s); }
      set_c(e + q * s, x);
    }
  }
}

// This thread's TM×TN outputs += the product of the tiles in workgroup memory.
// acc[r * 2 + h]: row r of the thread's outputs, columns 4h..4h+3 (h < TN / 4).
fn multiply_tiles(acc: ptr<function, array<vec4f, 16>>, lid: vec3u) {
  let bm4 = TM * 4u;
  let bn4 = TN * 4u;
  for (var k = 0u; k < BK; k++) {
    let b0 = Bs[k * bn4 + lid.x * (TN / 4u)];
    let b1 = Bs[k * bn4 + lid.x * (TN / 4u) + TN / 8u];
    for (var r4 = 0u; r4 < TM / 4u; r4++) {
      let a4 = As[k * bm4 + lid.y * (TM / 4u) + r4];
      for (var q = 0u; q < 4u; q++) {
        let r = r4 * 4u + q;
        (*acc)[r * 2u] += a4[q] * b0;
        if (TN == 8u) { (*acc)[r * 2u + 1u] += a4[q] * b1; }
      }
    }
  }
}

// Bases of this workgroup's batch entry in A, B and C.
fn bases(wid: vec3u) -> vec3u {
  let e = wid.z + p.batch0;
  return vec3u(p.off_a + strided_offset(e, p.rank, p.shape, p.stride_a), p.off_b + strided_offset(e, p.rank, p.shape, p.stride_b), p.off_c + wid.z * p.stride_c);
}

fn store_outputs(acc: ptr<function, array<vec4f, 16>>, base_c: u32, row0: u32, col0: u32, lid: vec3u) {
  for (var r = 0u; r < TM; r++) {
    let i = row0 + lid.y * TM + r;
    store_row(base_c, i, col0 + lid.x * TN, (*acc)[r * 2u]);
    if (TN == 8u) { store_row(base_c, i, col0 + lid.x * TN + 4u, (*acc)[r * 2u + 1u]); }
  }
}

@compute @workgroup_size(16, 16)
fn block(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let tid = lid.y * 16u + lid.x;
  let row0 = wid.y * 16u * TM;
  let col0 = wid.x * 16u * TN;
  let base = bases(wid);
  var acc: array<vec4f, 16>;
  for (var k0 = 0u; k0 < p.k; k0 += BK) {
    put_a(fetch_a(base.x, row0, k0, tid), tid);
    put_b(fetch_b(base.y, col0, k0, tid), tid);
    workgroupBarrier();
    multiply_tiles(&acc, lid);
    workgroupBarrier();
  }
  store_outputs(&acc, base.z, row0, col0, lid);
}

@compute @workgroup_size(16, 16)
fn block_prefetch(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let tid = lid.y * 16u + lid.x;
  let row0 = wid.y * 16u * TM;
  let col0 = wid.x * 16u * TN;
  let base = bases(wid);
  var acc: array<vec4f, 16>;
  var next_a = fetch_a(base.x, row0, 0u, tid);
  var next_b = fetch_b(base.y, col0, 0u, tid);
  for (var k0 = 0u; k0 < p.k; k0 += BK) {
    put_a(next_a, tid);
    put_b(next_b, tid);
    workgroupBarrier();
    // The next step's loads are issued before this step's multiply-adds (no dependence between them).
    if (k0 + BK < p.k) {
      next_a = fetch_a(base.x, row0, k0 + BK, tid);
      next_b = fetch_b(base.y, col0, k0 + BK, tid);
    }
    multiply_tiles(&acc, lid);
    workgroupBarrier();
  }
  store_outputs(&acc, base.z, row0, col0, lid);
}
