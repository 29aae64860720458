/** A small SVG line chart for the spam-classifier page, redrawn whole on every new point. */

export interface ChartSeries {
  label: string;
  color: string;
  points: [number, number][];
  dashed?: boolean;
}

export interface ChartOptions {
  xLabel: string;
  yLabel: string;
  /** Fixed y range (accuracy: [0, 1]); default the data's range with a margin. */
  yRange?: [number, number];
  /** Fixed x range; default the data's range. */
  xRange?: [number, number];
  /** How tick values print (default 3 significant digits). */
  format?: (value: number) => string;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
const WIDTH = 440;
const HEIGHT = 250;
const PAD = { left: 48, right: 12, top: 28, bottom: 36 };

function element(name: string, attributes: Record<string, string | number>, text?: string): SVGElement {
  const el = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attributes)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/** Roughly `count` round tick values covering [lo, hi] (integers only with `integer`). */
function ticks(lo: number, hi: number, count: number, integer = false): number[] {
  const span = hi - lo || 1;
  const raw = integer ? Math.max(1, span / count) : span / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** Draws `series` into `svg` (replacing what was there): axes, ticks (integer x: steps, epochs), a legend and one polyline per series. */
export function drawChart(svg: SVGSVGElement, series: ChartSeries[], options: ChartOptions): void {
  const { xLabel, yLabel, format = (v: number) => String(Number(v.toPrecision(3))) } = options;
  svg.replaceChildren();
  svg.setAttribute('viewBox', `0 0 ${WIDTH} ${HEIGHT}`);
  const all = series.flatMap((s) => s.points);
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y);
  let [x0, x1] = options.xRange ?? [Math.min(...xs, 0), Math.max(...xs, 1)];
  if (x1 <= x0) x1 = x0 + 1;
  let [y0, y1] = options.yRange ?? (ys.length > 0 ? [Math.min(...ys), Math.max(...ys)] : [0, 1]);
  if (!options.yRange) {
    const margin = (y1 - y0) * 0.08 || Math.abs(y0) * 0.1 || 0.1;
    [y0, y1] = [y0 - margin, y1 + margin];
  }
  const px = (x: number) => PAD.left + ((x - x0) / (x1 - x0)) * (WIDTH - PAD.left - PAD.right);
  const py = (y: number) => HEIGHT - PAD.bottom - ((y - y0) / (y1 - y0)) * (HEIGHT - PAD.top - PAD.bottom);

  for (const y of ticks(y0, y1, 4)) {
    svg.append(element('line', { x1: PAD.left, x2: WIDTH - PAD.right, y1: py(y), y2: py(y), class: 'grid' }));
    svg.append(element('text', { x: PAD.left - 6, y: py(y) + 4, 'text-anchor': 'end', class: 'tick' }, format(y)));
  }
  for (const x of ticks(x0, x1, 5, true)) {
    svg.append(element('text', { x: px(x), y: HEIGHT - PAD.bottom + 16, 'text-anchor': 'middle', class: 'tick' }, String(x)));
  }
  svg.append(element('rect', { x: PAD.left, y: PAD.top, width: WIDTH - PAD.left - PAD.right, height: HEIGHT - PAD.top - PAD.bottom, class: 'frame' }));
  svg.append(element('text', { x: (PAD.left + WIDTH - PAD.right) / 2, y: HEIGHT - 4, 'text-anchor': 'middle', class: 'label' }, xLabel));
  svg.append(element('text', { x: 12, y: (PAD.top + HEIGHT - PAD.bottom) / 2, 'text-anchor': 'middle', class: 'label', transform: `rotate(-90 12 ${(PAD.top + HEIGHT - PAD.bottom) / 2})` }, yLabel));

  let legendX = PAD.left;
  for (const s of series) {
    const style = { stroke: s.color, 'stroke-width': 2, fill: 'none', ...(s.dashed ? { 'stroke-dasharray': '5 3' } : {}) };
    svg.append(element('line', { x1: legendX, x2: legendX + 18, y1: 14, y2: 14, ...style }));
    const label = element('text', { x: legendX + 22, y: 18, class: 'legend' }, s.label);
    svg.append(label);
    legendX += 30 + s.label.length * 6.5;
    if (s.points.length === 0) continue;
    svg.append(element('polyline', { points: s.points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' '), ...style }));
    for (const [x, y] of s.points) svg.append(element('circle', { cx: px(x), cy: py(y), r: 2.5, fill: s.color }));
  }
}
