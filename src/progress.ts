/** Terminal progress bar (redrawn in place on a TTY, plain lines otherwise) and an SVG loss plot. */

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

/** A small SVG line chart of training and validation loss against tokens seen. */
export function lossPlotSvg(tokens: number[], train: number[], val: number[]): string {
  const [w, h, pad] = [640, 360, 48];
  const all = [...train, ...val].filter(Number.isFinite);
  const [lo, hi] = [Math.min(...all), Math.max(...all)];
  const maxX = Math.max(1, ...tokens);
  const x = (t: number) => pad + ((w - 2 * pad) * t) / maxX;
  const y = (v: number) => h - pad - ((h - 2 * pad) * (v - lo)) / (hi - lo || 1);
  const path = (vals: number[]) => vals.map((v, i) => `${i ? 'L' : 'M'}${x(tokens[i]).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
  const ticks = Array.from({ length: 5 }, (_, i) => lo + ((hi - lo) * i) / 4);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<line x1="${pad}" y1="${h - pad}" x2="${w - pad}" y2="${h - pad}" stroke="#333"/><line x1="${pad}" y1="${pad}" x2="${pad}" y2="${h - pad}" stroke="#333"/>
${ticks.map((v) => `<text x="${pad - 6}" y="${y(v) + 4}" text-anchor="end">${v.toFixed(2)}</text>`).join('\n')}
<text x="${w / 2}" y="${h - 12}" text-anchor="middle">tokens seen (max ${maxX})</text>
<text x="14" y="${h / 2}" transform="rotate(-90 14 ${h / 2})" text-anchor="middle">loss</text>
<path d="${path(train)}" fill="none" stroke="#1f77b4" stroke-width="2"/>
<path d="${path(val)}" fill="none" stroke="#ff7f0e" stroke-width="2" stroke-dasharray="6 4"/>
<text x="${w - pad - 120}" y="${pad}" fill="#1f77b4">— training loss</text>
<text x="${w - pad - 120}" y="${pad + 16}" fill="#ff7f0e">- - validation loss</text>
</svg>
`;
}
