/** The fused optimizer kernel module (shaders/optim.wgsl) and its uniform block. */
import source from '../../../../shaders/optim.wgsl';
import { defineKernel, Uniforms } from '../engine/kernel';

export const optimKernel = defineKernel('optim', source);

export interface OptimUniforms {
  n: number;
  partial?: number;
  nesterov?: boolean;
  first?: boolean;
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  stepSize?: number;
  bc2Sqrt?: number;
  maxNorm?: number;
  /** AdamW: 1 − beta1; SGD: 1 − dampening (computed here in float64). */
  oneMinusBeta1?: number;
  oneMinusBeta2?: number;
  /** AdamW: 1 − lr·weightDecay. */
  decay?: number;
}

export function optimUniforms(u: OptimUniforms): Uniforms {
  return new Uniforms()
    .u32(u.n, u.partial ?? 0, u.nesterov ? 1 : 0, u.first ? 1 : 0)
    .f32(u.lr ?? 0, u.beta1 ?? 0, u.beta2 ?? 0, u.eps ?? 0, u.weightDecay ?? 0, u.stepSize ?? 0, u.bc2Sqrt ?? 1, u.maxNorm ?? 0)
    .f32(u.oneMinusBeta1 ?? 0, u.oneMinusBeta2 ?? 0, u.decay ?? 1);
}
