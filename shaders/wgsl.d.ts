/** WGSL sources are inlined as strings at build time (see tools/wgsl.ts). */
declare module '*.wgsl' {
  const source: string;
  export default source;
}
