import { test } from 'vitest';
import { init } from '../packages/core/src/node';
test('probe', async () => {
  const g = await init();
  const a: any = g.adapter;
  console.log(g.adapterName, '|', g.backend, g.featureLevel, [...g.features].join(','), a.info.subgroupMinSize, a.info.subgroupMaxSize,
    'wgmem', g.limits.maxComputeWorkgroupStorageSize, 'inv', g.limits.maxComputeInvocationsPerWorkgroup, 'sb', g.limits.maxStorageBuffersPerShaderStage);
  const dev = g.device;
  const tryCompile = async (label: string, code: string) => {
    dev.pushErrorScope('validation');
    const m = dev.createShaderModule({ code });
    const info = await m.getCompilationInfo();
    try { dev.createComputePipeline({ layout: 'auto', compute: { module: m, entryPoint: 'main' } }); } catch (e) { console.log('pipe throw', e); }
    const err = await dev.popErrorScope();
    console.log(label, err ? 'ERR ' + err.message.slice(0, 600) : 'ok', info.messages.map((x: any) => x.message).join(' | ').slice(0, 300));
  };
  await tryCompile('struct-builtins', `
struct Inv { @builtin(local_invocation_index) index: u32, @builtin(workgroup_id) wid: vec3u }
@group(0) @binding(0) var<storage, read_write> o: array<u32>;
@compute @workgroup_size(64) fn main(inv: Inv) { o[inv.index] = inv.wid.x; }`);
  await tryCompile('subgroups', `enable subgroups; diagnostic(off, subgroup_uniformity);
struct Inv { @builtin(local_invocation_index) index: u32, @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) sg: u32 }
var<private> sgs: u32;
var<workgroup> next: atomic<u32>;
var<workgroup> sh: array<f32, 64>;
@group(0) @binding(0) var<storage, read_write> o: array<f32>;
@compute @workgroup_size(64) fn main(inv: Inv) {
  sgs = inv.sg;
  var base = 0u;
  if (subgroupElect()) { base = atomicAdd(&next, inv.sg); }
  base = subgroupBroadcastFirst(base);
  var v = f32(base + inv.lane);
  for (var m = 1u; m < sgs; m <<= 1u) { v += subgroupShuffleXor(v, m); }
  sh[base + inv.lane] = v;
  workgroupBarrier();

  o[inv.index] = sh[inv.index] + subgroupAdd(1.0) + subgroupMax(2.0) + f32(subgroupMin(3u)) + subgroupInclusiveAdd(1.0);
}`);
  await tryCompile('f16', `enable f16;
alias elem = f16;
@group(0) @binding(0) var<storage, read_write> o: array<elem>;
@compute @workgroup_size(64) fn main(@builtin(local_invocation_index) i: u32) { o[i] = elem(f32(o[i]) * 2.0); }`);
}, 60000);
