/**
 * `@scratchgpt/core/testing`: what the library's own tests use, for users' tests and custom ops.
 * - {@link gradcheck}: checks a differentiable op (e.g. one made with `defineOp`) against finite
 *   differences of its own forward, like `torch.autograd.gradcheck`.
 * - {@link checkGradients}: checks a GPU backward against finite differences of a float64 reference.
 * - {@link compareClose} / {@link assertClose}: elementwise tolerance checks (a report, or a throw).
 * - The float64 reference (`*Ref`) of every op, and the op registry ({@link OP_INFOS}) with its checks.
 *
 * Nothing here depends on a test framework: failed checks throw a `ScratchGPTError` with code `check`.
 */
export { assertClose, compareClose, type CloseOptions, type CloseReport } from './testing/compare';
export {
  checkGradients,
  gradcheck,
  numericGrads,
  randomData,
  type CheckGradientsOptions,
  type GradcheckInput,
  type GradcheckOptions,
  type GradcheckReport,
} from './testing/gradients';
export { checkBackward, checkDTypes, checkForward, checkFrees, checkNoNewPipelines, isDifferentiable } from './testing/opcheck';
export { OP_INFOS } from './testing/registry';
export type { AnyOpInfo, OpInfo, OpSample, RefResult, Tolerance } from './ops/info';

// The float64 references: flat row-major float64 inputs in, the op's result out.
export { broadcastRef } from './ops/broadcast';
export { geluGradRef, geluRef } from './ops/unary';
export { maxRef, meanRef, sumRef, sumToRef } from './ops/reduce';
export { matmulRef } from './ops/matmul';
export { logSoftmaxRef, softmaxRef } from './ops/softmax';
export { layerNormBackwardRef, layerNormRef } from './ops/layernorm';
export { permuteRef, transposeRef } from './ops/permute';
export { narrowRef, sliceRef } from './ops/slice';
export { concatRef, splitRef } from './ops/concat';
export { causalMaskRef, maskedFillRef, trilRef, triuRef, whereRef } from './ops/where';
export { embeddingRef } from './ops/embedding';
export { crossEntropyRef } from './ops/crossentropy';
export { argmaxRef } from './ops/argmax';
export { topkRef } from './ops/topk';
export { dropoutMaskRef, dropoutRef } from './ops/dropout';
export { attentionKeepRef, attentionRef } from './ops/attention';
export { samplingDistributionRef } from './ops/sample';
export { castRef } from './ops/cast';
export { linearEpilogueGradRef, linearEpilogueRef } from './ops/epilogue';
export { linearRef } from './ops/linear';
export { qkvProjectionRef } from './ops/qkv';
export { clipGradNormRef } from './optim/clip';
