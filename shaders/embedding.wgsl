// Embedding gather and its gradient, over one row range [row0, row0 + rows) of the table per pass,
// so tables larger than one storage binding work. `shift` is the element offset of row0 inside the
// bound range (bindings start at 256-byte boundaries).
const WG: u32 = 256u;
const BACKWARD_WG: u32 = 64u;

struct Params {
  n: u32,       // positions (ids)
  c: u32,       // embedding width
  v: u32,       // vocabulary size
  row0: u32,    // first table row of this pass
  rows: u32,    // rows in this pass
  shift: u32,   // element offset of row0 in the bound table/gradient range
  first: u32,   // 1 on the first pass: out-of-range ids write zeros then
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read_write> table: array<f32>;  // forward: weight; backward: dweight (zeroed)
@group(0) @binding(3) var<storage, read_write> rows_out: array<f32>; // forward: out [n, c]; backward: upstream grad [n, c]
@group(0) @binding(4) var<storage, read_write> errors: array<atomic<u32>>; // error reports (shaders/errors.wgsl)

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_index(gid, nwg, WG);
  if (i >= p.n * p.c) { return; }
  let pos = i / p.c;
  let col = i % p.c;
  let id = ids[pos];
  if (id >= 0 && u32(id) >= p.row0 && u32(id) < p.row0 + p.rows) {
    rows_out[i] = table[p.shift + (u32(id) - p.row0) * p.c + col];
  } else if (p.first != 0u && (id < 0 || u32(id) >= p.v)) {
    // Out of range: a zero row, and a report (once per position) that the next readback throws.
    rows_out[i] = 0.0;
    if (col == 0u) { report_error(ERR_TOKEN_ID, bitcast<u32>(id), pos, p.v); }
  }
}

// One invocation per column: walks the positions in order, so repeated ids accumulate
// deterministically without float atomics.
@compute @workgroup_size(BACKWARD_WG)
fn backward(@builtin(global_invocation_id) gid: vec3u) {
  let col = gid.x;
  if (col >= p.c) { return; }
  for (var pos = 0u; pos < p.n; pos++) {
    let id = ids[pos];
    if (id >= 0 && u32(id) >= p.row0 && u32(id) < p.row0 + p.rows) {
      let at = p.shift + (u32(id) - p.row0) * p.c + col;
      table[at] = table[at] + rows_out[pos * p.c + col];
    }
  }
}
