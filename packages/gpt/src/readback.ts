/** Reading tensors back for files (checkpoints, exports), refusing non-finite weights. */
import { ScratchGPTError } from '@scratchgpt/core';
import type { Tensor } from '@scratchgpt/core';
import type { TensorToWrite } from './safetensors';

/**
 * Reads a tensor back for writing to a file; throws, naming it, when an f32 value is NaN or ±∞
 * (checked on the values that are read back anyway: no extra GPU work).
 */
export async function readFiniteTensor(name: string, t: Tensor, action = 'save'): Promise<TensorToWrite> {
  const data = await t.toArray();
  if (data instanceof Float32Array) {
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i])) {
        throw new ScratchGPTError('shape', `scratchgpt: refusing to ${action}: tensor '${name}' holds ${data[i]} at index ${i} (training diverged? lower the learning rate or clip gradients); nothing was written`);
      }
    }
  }
  return { dtype: t.dtype === 'f32' ? 'F32' : t.dtype === 'i32' ? 'I32' : 'U32', shape: t.shape, data };
}
