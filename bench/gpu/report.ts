/** The GPU benchmark's report: its JSON shape and its markdown rendering. */
import type { GPTConfig } from '../../packages/gpt/src/index';
import type { F16Row } from './f16';
import type { MatmulSection } from './matmul';
import type { Peak } from './peak';

/** One row of the model tables. */
export interface ModelRow {
  benchmark: string;
  /** B×T for training; batch, prompt + new tokens for decoding. */
  shape: string;
  /** Kernel variants the row ran with. */
  kernels: string;
  /** tokens/s. */
  scratchgpt: number | null;
  tfjs: number | null;
  /** Compute dispatches per training step, or per decoding step (one token per sequence). */
  dispatches: number | null;
  /** Training rows: of `dispatches`, those of the optimizer step (fused AdamW). */
  optimizerDispatches?: number | null;
  note: string;
}

export interface GpuBenchReport {
  date: string;
  quick: boolean;
  elapsedS: number;
  budgetS: number;
  machine: { node: string; platform: string; arch: string; cpus: number; loadavg: number[] };
  adapter: Record<string, string | number | undefined>;
  features: string[];
  limits: Record<string, number>;
  peak: Peak;
  model: { name: string; config: GPTConfig; parameters: number };
  matmul: MatmulSection;
  rows: ModelRow[];
  variantRows: ModelRow[];
  f16: { available: boolean; rows: F16Row[]; note: string };
  skipped: string[];
}

const fixed = (v: number | null | undefined, digits = 1) => (v === null || v === undefined ? '-' : v.toFixed(digits));

function mdTable(header: readonly string[], body: readonly (readonly string[])[]): string[] {
  const line = (cells: readonly string[]) => `| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`;
  return [line(header), `|${header.map(() => '---').join('|')}|`, ...body.map(line)];
}

/** The report as markdown: adapter, matmul, model rows, variant rows, f16 rows, skipped rows. */
export function markdown(r: GpuBenchReport): string[] {
  const out: string[] = ['', `## GPU benchmark: ${r.adapter.name} (${r.adapter.backend})`, ''];
  out.push(
    ...mdTable(['adapter', ''], [
      ...(['vendor', 'architecture', 'device', 'description', 'featureLevel', 'class', 'subgroupMinSize', 'subgroupMaxSize'] as const).map((k) => [k, String(r.adapter[k] ?? '-')]),
      ['features', r.features.join(', ') || '-'],
      ...Object.entries(r.limits).map(([k, v]) => [k, String(v)]),
      ['f32 peak', r.peak.tflops ? `${r.peak.tflops} TFLOP/s (${r.peak.source})` : `n/a (${r.peak.source})`],
      ['run', `${r.elapsedS.toFixed(0)} s of a ${r.budgetS} s budget${r.quick ? ', --quick' : ''}; node ${r.machine.node}, ${r.machine.cpus} CPUs, load ${r.machine.loadavg.map((v) => v.toFixed(1)).join(' ')}`],
    ]),
  );
  if (r.matmul.cells.length > 0) out.push(...matmulMarkdown(r));
  const modelTable = (rows: ModelRow[]) =>
    mdTable(
      ['benchmark', 'B×T / batch, prompt+new', 'kernels', 'scratchgpt tok/s', 'tfjs tok/s', 'ours/tfjs', 'dispatches/step', 'note'],
      rows.map((x) => [x.benchmark, x.shape, x.kernels, fixed(x.scratchgpt), fixed(x.tfjs), x.scratchgpt && x.tfjs ? `${(x.scratchgpt / x.tfjs).toFixed(2)}×` : '-', dispatchesCell(x), x.note]),
    );
  if (r.rows.length > 0) {
    out.push('', `### ${r.model.name} (${(r.model.parameters / 1e6).toFixed(0)}M parameters, random weights): training (forward + backward + AdamW) and decoding`, '');
    out.push(...modelTable(r.rows));
  }
  if (r.variantRows.length > 0) out.push('', '### kernel variants forced (same rows)', '', ...modelTable(r.variantRows));
  out.push('', '### f16', '', r.f16.note);
  if (r.f16.rows.length > 0) {
    out.push(
      '',
      ...mdTable(
        ['op', 'shape', 'f32 ms', 'f16 ms', 'f16 speed-up', 'max |f16 − f32|', 'note'],
        r.f16.rows.map((x) => [x.op, x.shape, fixed(x.f32Ms, 3), fixed(x.f16Ms, 3), x.f32Ms && x.f16Ms ? `${(x.f32Ms / x.f16Ms).toFixed(2)}×` : '-', x.maxDiff === null ? '-' : x.maxDiff.toExponential(1), x.note]),
      ),
    );
  }
  out.push('', r.skipped.length > 0 ? `Skipped (time budget): ${r.skipped.join('; ')}` : 'Nothing skipped.');
  return out;
}

/** Dispatches per step; for training, with the optimizer step's share: `481 (AdamW 1)`. */
function dispatchesCell(row: ModelRow): string {
  if (row.dispatches === null) return '-';
  return row.optimizerDispatches == null ? String(row.dispatches) : `${row.dispatches} (AdamW ${row.optimizerDispatches})`;
}

/** The matmul table: GFLOP/s (% of peak) per kernel × size, validation, TF.js ratio. */
function matmulMarkdown(r: GpuBenchReport): string[] {
  const out: string[] = [];
  const sizes = [...new Set(r.matmul.cells.map((c) => c.size))];
  const kernels = [...new Set(r.matmul.cells.map((c) => c.kernel))];
  out.push('', '### matmul f32, n×n @ n×n: GFLOP/s (% of f32 peak)', '');
  out.push(
    ...mdTable(
      ['kernel', 'validated', ...sizes.map(String), 'note'],
      kernels.map((k) => {
        const valid = k === 'auto' || k === 'tfjs' ? '-' : r.matmul.validation[k];
        const cells = sizes.map((n) => {
          const c = r.matmul.cells.find((x) => x.kernel === k && x.size === n);
          if (!c || c.gflops === null) return '-';
          return `${c.error !== null && c.error > 1 ? '✗ ' : ''}${fixed(c.gflops)}${c.percentPeak !== null ? ` (${c.percentPeak.toFixed(1)}%)` : ''}`;
        });
        const notes = [...new Set(r.matmul.cells.filter((x) => x.kernel === k && x.note).map((x) => `${x.size}: ${x.note}`))];
        const validCell = typeof valid === 'number' ? (valid <= 1 ? `✓ (${valid.toFixed(2)})` : `✗ (${valid.toFixed(1)})`) : valid === '-' ? '-' : `✗ ${valid}`;
        return [k === 'auto' ? 'auto (policy)' : k, validCell, ...cells, notes.join('; ')];
      }),
    ),
  );
  const ratios = sizes.map((n) => {
    const theirs = r.matmul.cells.find((c) => c.kernel === 'tfjs' && c.size === n)?.gflops;
    const best = Math.max(...r.matmul.cells.filter((c) => c.kernel !== 'tfjs' && c.size === n && c.gflops !== null && (c.error ?? 0) <= 1).map((c) => c.gflops as number));
    return theirs && Number.isFinite(best) ? `${n}: ${(best / theirs).toFixed(2)}×` : `${n}: -`;
  });
  out.push('', `best scratchgpt kernel / TF.js: ${ratios.join(', ')}. validated: worst error / tolerance on the small odd shapes (≤ 1 passes); ✗ before a figure: wrong at sampled outputs.`);
  return out;
}
