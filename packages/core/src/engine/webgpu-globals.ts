/**
 * The WebGPU types the public API names (`GPUDevice`, `GPUBuffer`, ...), declared as empty global
 * interfaces. Interfaces merge: where a project has WebGPU's types — TypeScript's DOM library from 6.0
 * on, or `@webgpu/types` in `compilerOptions.types` — these add nothing and the full types apply; in a
 * Node-only project (`lib: ["es2022"]`, no DOM) they stand in, so the published declarations type-check
 * with `skipLibCheck: false` everywhere. (Referencing `@webgpu/types` from the declarations instead
 * would break both: it needs DOM types, and it clashes with the DOM library's own WebGPU types.)
 * Only interfaces belong here: type aliases (`GPUPowerPreference`, ...) cannot merge, so the API spells
 * those out.
 */
declare global {
  interface GPU {}
  interface GPUAdapter {}
  interface GPUBuffer {}
  interface GPUDevice {}
  interface GPURequestAdapterOptions {}
  interface GPUSupportedLimits {}
}

export {};
