/**
 * The optimizer kernel modules: shaders/optim.wgsl (SGD and gradient-norm clipping, one parameter
 * chunk per dispatch), shaders/adamw.wgsl (AdamW, two parameter chunks per dispatch) and
 * shaders/adamw_flat.wgsl (fused AdamW: every parameter of a flat buffer per dispatch); both AdamW
 * kernels take their arithmetic from the prelude shaders/adamw_update.wgsl.
 */
import adamwSource from '../../../../shaders/adamw.wgsl';
import adamwFlatSource from '../../../../shaders/adamw_flat.wgsl';
import source from '../../../../shaders/optim.wgsl';
import { defineKernel } from '../engine/kernel';
import adamwUpdateWgsl from '../../../../shaders/adamw_update.wgsl';
import { commonWgsl, rowsWgsl } from '../ops/shared';

export const optimKernel = defineKernel('optim', source, { with: [commonWgsl, rowsWgsl] });
export const adamwKernel = defineKernel('adamw', adamwSource, { with: [commonWgsl, adamwUpdateWgsl] });
export const adamwFlatKernel = defineKernel('adamw_flat', adamwFlatSource, { with: [commonWgsl, adamwUpdateWgsl] });
