/**
 * The op registry: every op's {@link OpInfo} entry, gathered from the ends of the op files. The
 * generic suite (`packages/core/test/ops.test.ts`) runs the checks of `opcheck.ts` on each, and a
 * meta-test fails when an exported op has no entry.
 */
import { argmaxInfo } from '../ops/argmax';
import { attentionInfo } from '../ops/attention';
import { binaryInfos } from '../ops/binary';
import { castInfo } from '../ops/cast';
import { concatInfos } from '../ops/concat';
import { crossEntropyInfo } from '../ops/crossentropy';
import { dropoutInfo } from '../ops/dropout';
import { embeddingInfo } from '../ops/embedding';
import type { AnyOpInfo } from '../ops/info';
import { layerNormInfo } from '../ops/layernorm';
import { matmulInfo } from '../ops/matmul';
import { permuteInfos } from '../ops/permute';
import { reduceInfos } from '../ops/reduce';
import { sampleLogitsInfo } from '../ops/sample';
import { linearEpilogueInfo } from '../ops/epilogue';
import { linearInfo } from '../ops/linear';
import { qkvProjectionInfo } from '../ops/qkv';
import { sliceInfos } from '../ops/slice';
import { softmaxInfos } from '../ops/softmax';
import { topkInfo } from '../ops/topk';
import { unaryInfos } from '../ops/unary';
import { whereInfos } from '../ops/where';

/** Every registered op entry, in a stable order. */
export const OP_INFOS: readonly AnyOpInfo[] = [
  ...unaryInfos,
  ...binaryInfos,
  ...reduceInfos,
  matmulInfo,
  ...softmaxInfos,
  layerNormInfo,
  ...permuteInfos,
  ...sliceInfos,
  ...concatInfos,
  ...whereInfos,
  embeddingInfo,
  crossEntropyInfo,
  argmaxInfo,
  topkInfo,
  dropoutInfo,
  attentionInfo,
  sampleLogitsInfo,
  castInfo,
  linearEpilogueInfo,
  linearInfo,
  qkvProjectionInfo,
];
