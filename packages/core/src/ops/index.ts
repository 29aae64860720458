/**
 * Every built-in op; each file holds one op family's forward, backward and float64 reference.
 * The references (`*Ref`) and the registry entries (`*Info`) are not part of the main index: they are
 * exported from `@scratchgpt/core/testing` (src/testing.ts). A new op is added here by name, and gets
 * an entry in the registry (test/ops.test.ts fails until it has one).
 */
export { broadcastShapes, broadcastStrides, canSumTo, collapseDims } from './broadcast';
export {
  abs,
  addScalar,
  affine,
  exp,
  gelu,
  log,
  mulScalar,
  neg,
  pow,
  relu,
  rsqrt,
  sigmoid,
  sqrt,
  tanh,
  unary,
  unaryOps,
  type UnaryOpName,
} from './unary';
export {
  add,
  binary,
  binaryOps,
  div,
  equal,
  greater,
  greaterEqual,
  less,
  lessEqual,
  maximum,
  minimum,
  mul,
  sub,
  type BinaryOpName,
} from './binary';
export { max, mean, sum, sumTo, threadsPerRow } from './reduce';
export { matmul, matmulShape, tuneMatmul, type MatmulKernel, type MatmulOptions, type MatmulShape, type MatmulTuning } from './matmul';
export { logSoftmax, logSoftmaxBackward, softmax, softmaxBackward } from './softmax';
export { layerNorm } from './layernorm';
export { permute, stridedCopy, transpose, type StridedView } from './permute';
export { narrow, slice } from './slice';
export { concat, split } from './concat';
export { causalMask, maskedFill, tril, triu, where } from './where';
export { checkTokenIds, embedding, type CheckTokenIdsOptions } from './embedding';
export { crossEntropy, type CrossEntropyOptions } from './crossentropy';
export { argmax } from './argmax';
export { MAX_TOPK, topk } from './topk';
export { dropout, type DropoutOptions } from './dropout';
export { attention, MAX_HEAD_DIM, type AttentionOptions } from './attention';
export { sampleLogits, type SampleOptions } from './sample';
export { cast, castInto, type CastIntoRange, type FloatDType } from './cast';
export { linearEpilogue, type EpilogueActivation, type EpilogueOptions } from './epilogue';
export { linear, FUSED_LINEAR_MAX_ROWS, type LinearNorm, type FusedLinearOptions } from './linear';
export { qkvProjection, type QkvCacheSlot, type QkvOptions, type QkvWeights } from './qkv';
