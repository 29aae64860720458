// Error reports from kernels. A kernel that finds bad input (an out-of-range token id, non-finite
// logits) cannot throw, so it records what it found in the engine's report buffer; the host copies
// that buffer with the next readback that happens anyway and throws an error naming the op
// (engine/gpuerrors.ts). No extra readback, no extra submission.
//
// A kernel opts in by declaring a read_write storage binding named `errors`, which `launch` binds to
// the report buffer itself:
//   @group(0) @binding(N) var<storage, read_write> errors: array<atomic<u32>>;
// and by appending this file: `defineKernel(name, source, { with: [common, errors] })`.
//
// Words: [0] number of reports since the last readback, then the first report: [1] code, [2] value
// (the offending id, as bits), [3] index (position/row), [4] limit (vocabulary size/classes).

// Codes: the host turns each into a message (`describeGpuError` next to the op).
const ERR_TOKEN_ID: u32 = 1u;         // embedding: an id outside [0, V)
const ERR_TARGET_ID: u32 = 2u;        // crossEntropy: a target outside [0, V) that is not ignore_index
const ERR_NONFINITE_LOGITS: u32 = 3u; // sampleLogits: a row holding NaN or +Inf, or no finite value

fn report_error(code: u32, value: u32, index: u32, limit: u32) {
  // The first reporter (count 0 → 1) writes the details; later ones only count.
  if (atomicAdd(&errors[0], 1u) == 0u) {
    atomicStore(&errors[1], code);
    atomicStore(&errors[2], value);
    atomicStore(&errors[3], index);
    atomicStore(&errors[4], limit);
  }
}

// Whether an f32 is NaN or +Inf, by its bits (comparisons with NaN may be folded away by shader
// compilers). −Inf is a legitimate logit (masked tokens).
fn is_nan_or_pos_inf(x: f32) -> bool {
  let bits = bitcast<u32>(x);
  return (bits & 0x7f800000u) == 0x7f800000u && bits != 0xff800000u;
}
