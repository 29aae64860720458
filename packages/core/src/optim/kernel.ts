/** The fused optimizer kernel module (shaders/optim.wgsl): AdamW, SGD and gradient-norm clipping entries. */
import source from '../../../../shaders/optim.wgsl';
import { defineKernel } from '../engine/kernel';
import { commonWgsl, rowsWgsl } from '../ops/shared';

export const optimKernel = defineKernel('optim', source, { with: [commonWgsl, rowsWgsl] });
