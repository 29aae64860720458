/** Text files are inlined as strings at build time (see tools/wgsl.ts). */
declare module '*.txt' {
  const text: string;
  export default text;
}
