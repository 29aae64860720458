/** This package's version (kept equal to package.json's by `pnpm version-packages`; a test checks it). */
export const VERSION = '0.1.0';
