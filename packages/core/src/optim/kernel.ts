/**
 * The fused optimizer kernel modules: shaders/optim.wgsl (AdamW, SGD and gradient-norm clipping, one
 * parameter chunk per dispatch) and shaders/adamw.wgsl (AdamW, two parameter chunks per dispatch).
 */
import adamwSource from '../../../../shaders/adamw.wgsl';
import source from '../../../../shaders/optim.wgsl';
import { defineKernel } from '../engine/kernel';
import { commonWgsl, rowsWgsl } from '../ops/shared';

export const optimKernel = defineKernel('optim', source, { with: [commonWgsl, rowsWgsl] });
export const adamwKernel = defineKernel('adamw', adamwSource, { with: [commonWgsl] });
