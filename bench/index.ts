/**
 * `pnpm bench`: performance benchmarks (Node, on the library's default adapter).
 * Each benchmark prints a table and returns its rows.
 */
import { benchMatmul } from './matmul';

await benchMatmul();
