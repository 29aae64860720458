/**
 * The op registry suite: every op's entry (`OpInfo`, at the end of its file in src/ops/) runs the same
 * checks — forward against the float64 reference on every sample, backward against finite
 * differences of that reference, no leaks, no new pipelines for new shapes, dtype handling — and a
 * meta-test fails when an exported op has no entry. Run on a second adapter by the `swiftshader`
 * vitest project (vitest.config.ts).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { init } from '../src/node';
import * as ops from '../src/ops/index';
import {
  checkBackward,
  checkDTypes,
  checkForward,
  checkFrees,
  checkNoNewPipelines,
  isDifferentiable,
  OP_INFOS,
} from '../src/testing';

beforeAll(async () => {
  const gpu = await init();
  console.log(`op registry on ${gpu.adapterName} (${gpu.backend}, ${gpu.featureLevel}): ${OP_INFOS.length} ops`);
});

describe.each(OP_INFOS.map((info) => ({ name: info.name, info })))('$name', ({ info }) => {
  it(`forward = float64 reference on every sample (${info.samples.length})`, () => checkForward(info));
  if (isDifferentiable(info)) it('backward = finite differences of the reference', () => checkBackward(info));
  else it('records no gradient', () => checkBackward(info));
  it('frees everything it allocates', () => checkFrees(info));
  it('new shapes compile no new pipelines', () => checkNoNewPipelines(info));
  if (info.dtype === 'any') it('moves i32 and u32 words exactly', () => checkDTypes(info));
  else it(`rejects a ${info.dtype.reject} input with an error naming the op`, () => checkDTypes(info));
});

/** Exported functions of src/ops/index.ts that are not ops (helpers, low-level entry points), with why. */
const NOT_OPS: Record<string, string> = {
  broadcastShapes: 'shape helper',
  broadcastStrides: 'shape helper',
  canSumTo: 'shape helper',
  collapseDims: 'shape helper',
  matmulShape: 'shape helper',
  threadsPerRow: 'launch-size helper',
  tuneMatmul: 'matmul autotuner (test/matmul.test.ts)',
  unary: 'dispatcher by name: each unary op has its own entry',
  binary: 'dispatcher by name: each binary op has its own entry',
  softmaxBackward: 'backward entry point without autograd (test/softmax.test.ts)',
  logSoftmaxBackward: 'backward entry point without autograd (test/softmax.test.ts)',
  stridedCopy: 'copy primitive without autograd behind permute, slice and concat',
  causalMask: 'creation function without tensor inputs (test/where.test.ts)',
  checkTokenIds: 'CPU validation of ids (test/embedding.test.ts)',
  castInto: 'in-place write into part of an f16 tensor, no result or gradient (test/f16-kv.test.ts)',
};

describe('the registry', () => {
  const exported = Object.entries(ops)
    .filter(([, value]) => typeof value === 'function')
    .map(([name]) => name);
  const registered = OP_INFOS.map((info) => info.name);

  it('every exported op has an entry', () => {
    expect(exported.filter((name) => !(name in NOT_OPS) && !registered.includes(name))).toEqual([]);
  });

  it('every entry and allow-listed name is an exported function, registered once', () => {
    expect([...registered, ...Object.keys(NOT_OPS)].filter((name) => !exported.includes(name))).toEqual([]);
    expect(registered.filter((name, i) => registered.indexOf(name) !== i)).toEqual([]);
  });

  it('every op the unary and binary dispatchers take by name has an entry', () => {
    expect([...Object.keys(ops.unaryOps), ...Object.keys(ops.binaryOps)].filter((name) => !registered.includes(name))).toEqual([]);
  });

  it('every entry has at least two samples', () => {
    expect(OP_INFOS.filter((info) => info.samples.length < 2).map((info) => info.name)).toEqual([]);
  });
});
