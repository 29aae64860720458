import { it } from 'vitest';
import { init } from '../packages/core/src/node';
it('limits', async () => {
  const g = await init();
  console.log(g.adapterName, g.backend, g.featureLevel);
  const l = g.limits as any;
  for (const k of ['maxBufferSize','maxStorageBufferBindingSize','maxStorageBuffersPerShaderStage']) console.log(k, l[k]);
  console.log([...g.features]);
});
