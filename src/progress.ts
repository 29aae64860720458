/** Terminal progress bar (redrawn in place on a TTY, plain lines otherwise) and SVG line plots (loss, accuracy). */

export class ProgressBar {
  private readonly tty = process.stdout.isTTY === true;
  private readonly start = performance.now();
  private lastLine = 0;

  constructor(
    private readonly total: number,
    private readonly width = 28,
  ) {}

  update(done: number, suffix: string): void {
    const frac = this.total > 0 ? Math.min(1, done / this.total) : 1;
    const filled = Math.round(frac * this.width);
    const elapsed = (performance.now() - this.start) / 1000;
    const eta = frac > 0 ? elapsed / frac - elapsed : 0;
    const line = `[${'█'.repeat(filled)}${'░'.repeat(this.width - filled)}] ${done}/${this.total} ${suffix} · ${elapsed.toFixed(0)}s elapsed, ~${eta.toFixed(0)}s left`;
    if (this.tty) process.stdout.write(`\r${line.padEnd(this.lastLine)}`);
    this.lastLine = line.length;
  }

  /** Prints a line above the bar (always, TTY or not). */
  log(message: string): void {
    if (this.tty) process.stdout.write(`\r${' '.repeat(this.lastLine)}\r`);
    process.stdout.write(`${message}\n`);
  }

  finish(): void {
    if (this.tty) process.stdout.write('\n');
  }
}

/** One line of a {@link linePlotSvg} chart. */
export interface PlotSeries {
  label: string;
  values: number[];
  dashed?: boolean;
}

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728'];

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * A small SVG line chart: `series` against `x` (a point marker on every value, so that short series
 * stay visible), with axis labels and a legend above the plot area. Non-finite values are left out of the scale.
 */
export function linePlotSvg({ x, xLabel, yLabel, series }: { x: number[]; xLabel: string; yLabel: string; series: PlotSeries[] }): string {
  const [w, h, pad] = [640, 360, 48];
  const all = series.flatMap((s) => s.values).filter(Number.isFinite);
  const [lo, hi] = all.length > 0 ? [Math.min(...all), Math.max(...all)] : [0, 1];
  const minX = Math.min(0, ...x);
  const maxX = Math.max(minX + 1, ...x);
  const px = (t: number) => pad + ((w - 2 * pad) * (t - minX)) / (maxX - minX);
  const py = (v: number) => h - pad - ((h - 2 * pad) * (v - lo)) / (hi - lo || 1);
  const points = (vals: number[]) => vals.map((v, i) => [px(x[i]), py(v)] as const).filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b));
  const ticks = Array.from({ length: 5 }, (_, i) => lo + ((hi - lo) * i) / 4);
  const lines = series.map((s, k) => {
    const color = COLORS[k % COLORS.length];
    const pts = points(s.values);
    const path = pts.map(([a, b], i) => `${i ? 'L' : 'M'}${a.toFixed(1)},${b.toFixed(1)}`).join(' ');
    const dots = pts.map(([a, b]) => `<circle cx="${a.toFixed(1)}" cy="${b.toFixed(1)}" r="2.5" fill="${color}"/>`).join('');
    return `<path d="${path}" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>${dots}
<text x="${pad + 8 + 200 * k}" y="${pad - 18}" fill="${color}">${s.dashed ? '- - ' : '— '}${escapeXml(s.label)}</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<line x1="${pad}" y1="${h - pad}" x2="${w - pad}" y2="${h - pad}" stroke="#333"/><line x1="${pad}" y1="${pad}" x2="${pad}" y2="${h - pad}" stroke="#333"/>
${ticks.map((v) => `<text x="${pad - 6}" y="${(py(v) + 4).toFixed(1)}" text-anchor="end">${v.toFixed(2)}</text>`).join('\n')}
<text x="${w / 2}" y="${h - 12}" text-anchor="middle">${escapeXml(xLabel)} (max ${maxX})</text>
<text x="14" y="${h / 2}" transform="rotate(-90 14 ${h / 2})" text-anchor="middle">${escapeXml(yLabel)}</text>
${lines.join('\n')}
</svg>
`;
}

/** A small SVG line chart of training and validation loss against tokens seen. */
export function lossPlotSvg(tokens: number[], train: number[], val: number[]): string {
  return linePlotSvg({
    x: tokens,
    xLabel: 'tokens seen',
    yLabel: 'loss',
    series: [
      { label: 'training loss', values: train },
      { label: 'validation loss', values: val, dashed: true },
    ],
  });
}
