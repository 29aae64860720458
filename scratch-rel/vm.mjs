import { create } from 'webgpu';
import fs from 'node:fs';
process.env.EGL_PLATFORM ??= 'surfaceless';
const gpu = create(['backend=opengles']);
const adapter = await gpu.requestAdapter({ featureLevel: 'compatibility' });
const device = await adapter.requestDevice({ requiredLimits: { maxBufferSize: adapter.limits.maxBufferSize } });
console.log(fs.readFileSync('/proc/self/status','utf8').match(/VmSize.*|VmRSS.*/g));
