import { create, globals } from 'webgpu';
process.env.EGL_PLATFORM ??= 'surfaceless';
const gpu = create(['backend=opengles']);
const adapter = await gpu.requestAdapter({ featureLevel: 'compatibility' });
const device = await adapter.requestDevice({ requiredLimits: { maxBufferSize: adapter.limits.maxBufferSize, maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize } });
device.addEventListener('uncapturederror', (e) => console.log('uncaptured', e.error.constructor.name, e.error.message.slice(0, 200)));
device.lost.then((i) => console.log('lost', i.reason, i.message));
const bufs = [];
const GiB = 1 << 30;
const n = Number(process.argv[2] ?? 8);
const size = Number(process.argv[3] ?? 1) * GiB;
for (let i = 0; i < n; i++) {
  const t0 = performance.now();
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  const b = device.createBuffer({ size: Math.min(size, adapter.limits.maxBufferSize), usage: 0x80 | 0x8 | 0x4 });
  const v = device.popErrorScope();
  const p = device.popErrorScope();
  const t1 = performance.now();
  const [ve, err] = await Promise.all([v, p]);
  const rss = process.memoryUsage().rss / GiB;
  console.log(i, 'create ms', (t1 - t0).toFixed(2), 'oom:', err && err.constructor.name, err?.message?.slice(0, 200), 'val:', ve?.message?.slice(0,100), 'rss GiB', rss.toFixed(2));
  bufs.push(b);
}
// touch: write into one
device.queue.writeBuffer(bufs[0], 0, new Uint8Array(16));
await device.queue.onSubmittedWorkDone();
console.log('done rss', (process.memoryUsage().rss / GiB).toFixed(2));
