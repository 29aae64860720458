import { create } from 'webgpu';
process.env.EGL_PLATFORM ??= 'surfaceless';
const gpu = create(['backend=opengles']);
const adapter = await gpu.requestAdapter({ featureLevel: 'compatibility' });
const device = await adapter.requestDevice();
device.addEventListener('uncapturederror', (e) => console.log('uncaptured', e.error.message.slice(0, 200)));
device.lost.then((i) => console.log('lost resolved', JSON.stringify(i.reason), JSON.stringify(i.message)));
const b = device.createBuffer({ size: 256, usage: 0x80 | 0x8 | 0x4 });
const s = device.createBuffer({ size: 256, usage: 0x1 | 0x8 });
const enc = device.createCommandEncoder(); enc.copyBufferToBuffer(b, 0, s, 0, 256); device.queue.submit([enc.finish()]);
const p = s.mapAsync(1);
device.destroy();
console.log('destroyed');
try { await p; console.log('map ok'); } catch (e) { console.log('map rejected', e.name, JSON.stringify(e.message)); }
const b2 = device.createBuffer({ size: 256, usage: 0x80 | 0x8 | 0x4 });
console.log('createBuffer after destroy ok', b2.size);
const s2 = device.createBuffer({ size: 256, usage: 0x1 | 0x8 });
try { await s2.mapAsync(1); console.log('map2 ok'); } catch (e) { console.log('map2 rejected', e.name, JSON.stringify(e.message)); }
device.pushErrorScope('out-of-memory');
device.createBuffer({ size: 256, usage: 0x80 });
console.log('pop', await device.popErrorScope());
await device.queue.onSubmittedWorkDone(); console.log('owd ok');
const adapter2 = await gpu.requestAdapter({ featureLevel: 'compatibility' });
const d2 = await adapter2.requestDevice();
console.log('new device ok', !!d2);
try { const d3 = await adapter.requestDevice(); console.log('same adapter again ok'); } catch (e) { console.log('same adapter again', e.message); }
