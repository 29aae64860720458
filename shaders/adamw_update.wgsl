// The AdamW update of one element, PyTorch 1.13 semantics (decoupled decay, then Adam with bias
// corrections), shared by shaders/adamw.wgsl (two parameters per dispatch) and shaders/adamw_flat.wgsl
// (a fused optimizer's flat buffers) so that both give the same bits. Reads the including kernel's
// `p.beta1`, `p.beta2`, `p.eps`, `p.one_minus_beta1`, `p.one_minus_beta2` and `p.decay`
// (1 − lr·weight_decay); `step_size` is lr / (1 − beta1^t), `bc2_sqrt` sqrt(1 − beta2^t).
struct AdamWElement {
  param: f32,
  m: f32,
  v: f32,
}

fn adamw_element(param: f32, g: f32, m: f32, v: f32, step_size: f32, bc2_sqrt: f32) -> AdamWElement {
  let w = param * p.decay;
  let mi = p.beta1 * m + p.one_minus_beta1 * g;
  let vi = p.beta2 * v + p.one_minus_beta2 * g * g;
  let denom = sqrt(vi) / bc2_sqrt + p.eps;
  return AdamWElement(w - step_size * mi / denom, mi, vi);
}
