/**
 * f16 storage of `Linear` weights for inference (`GPTModel.castWeights`): the fused one-dispatch
 * kernels read the halves and accumulate in f32. f16 weights carry no gradients; casting back to f32
 * restores whether each weight was trained.
 */
import { cast, ScratchGPTError, type Linear, type Tensor } from '@scratchgpt/core';

/** Storage type of a model's projection weights (see `GPTModel.castWeights`). */
export type WeightDType = 'f32' | 'f16';

/** f16 weights made by {@link castLinearWeights}: whether their f32 original was frozen (`requiresGrad` false). */
const frozenWhenHalf = new WeakMap<Tensor, boolean>();

/** Converts each layer's weight to `dtype` in place (a new tensor under the same parameter name). */
export function castLinearWeights(layers: readonly Linear[], dtype: WeightDType): void {
  if (dtype !== 'f32' && dtype !== 'f16') throw new ScratchGPTError('dtype', `scratchgpt: castWeights: dtype must be 'f32' or 'f16', got '${String(dtype)}'`);
  for (const layer of layers) {
    const old = layer.weight;
    if (old.dtype === dtype) continue;
    const next = cast(old, dtype);
    // Whether the f32 weight is trained is restored when it comes back.
    if (dtype === 'f16') frozenWhenHalf.set(next, !old.requiresGrad);
    else next.requiresGrad = !(frozenWhenHalf.get(old) ?? false);
    layer.replaceParameter('weight', next);
    old.dispose();
  }
}

/** `'f16'` once any of the layers' weights is f16. */
export function weightDTypeOf(layers: readonly Linear[]): WeightDType {
  return layers.some((l) => l.weight.dtype === 'f16') ? 'f16' : 'f32';
}
