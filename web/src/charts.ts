// Small inline SVG charts for the report page: grouped bars and lines over the same buckets,
// with a y axis of round steps, x labels thinned to fit, a tooltip (<title>) per point, and
// gaps where a value is missing. Colours come from console.css (.series-0 … .series-5).

const NS = "http://www.w3.org/2000/svg";
const W = 600;
const H = 220;
const M = { top: 12, right: 12, bottom: 26, left: 48 };
const PW = W - M.left - M.right;
const PH = H - M.top - M.bottom;

export interface Series {
  name: string;
  /** One value per bucket; null where there is none. */
  values: (number | null)[];
  dashed?: boolean;
}

export interface ChartOptions {
  testid: string;
  /** Accessible name of the chart. */
  title: string;
  /** Bucket labels under the x axis. */
  labels: string[];
  /** Axis and tooltip text of a value. */
  format: (value: number) => string;
  /** Fixed bounds (e.g. 0–100 %); otherwise from 0 to a round step above the largest value. */
  min?: number;
  max?: number;
  /** Allowed tick steps, smallest first (default 1, 2, 5 × powers of ten). */
  steps?: number[];
}

type Attrs = Record<string, string | number>;

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Attrs, ...children: (Node | string | null)[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) if (c !== null) el.append(c);
  return el;
}

const round = (n: number) => Math.round(n * 10) / 10;

/** Tick step for `range` in about four steps. */
function step(range: number, steps?: number[]): number {
  const raw = range / 4;
  if (steps) return steps.find((s) => s >= raw) ?? steps[steps.length - 1] * Math.ceil(raw / steps[steps.length - 1]);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const n = raw / mag;
  return Math.max(1, (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * mag);
}

/** Seconds: steps that read well as durations. */
export const DURATION_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

function frame(opts: ChartOptions, series: Series[], kind: "bars" | "lines") {
  const values = series.flatMap((s) => s.values).filter((v): v is number => v !== null && Number.isFinite(v));
  const empty = values.length === 0 || (kind === "bars" && values.every((v) => v === 0));
  const min = opts.min ?? 0;
  let max = opts.max ?? Math.max(min + 1, ...values);
  const tick = step(max - min, opts.steps);
  if (opts.max === undefined) max = min + Math.ceil((max - min) / tick) * tick;
  const y = (v: number) => round(M.top + PH - ((v - min) / (max - min || 1)) * PH);
  const n = Math.max(1, opts.labels.length);
  const band = PW / n;
  const x = (i: number) => round(M.left + band * (i + 0.5));

  const root = svg("svg", {
    viewBox: `0 0 ${W} ${H}`,
    class: `chart chart-${kind}`,
    role: "img",
    "aria-label": opts.title,
    "data-testid": opts.testid,
    "data-empty": String(empty),
    "data-points": values.length,
  });
  root.append(svg("title", {}, opts.title));
  const grid = svg("g", { class: "chart-grid" });
  for (let v = min; v <= max + tick / 1000; v += tick) {
    grid.append(
      svg("line", { x1: M.left, x2: W - M.right, y1: y(v), y2: y(v) }),
      svg("text", { x: M.left - 6, y: y(v) + 3, "text-anchor": "end" }, opts.format(v)),
    );
  }
  const every = Math.ceil(n / Math.max(1, Math.floor(PW / 64)));
  const xAxis = svg("g", { class: "chart-x" });
  opts.labels.forEach((label, i) => {
    if (i % every === 0) xAxis.append(svg("text", { x: x(i), y: H - 8, "text-anchor": "middle" }, label));
  });
  root.append(grid, xAxis, svg("line", { class: "chart-axis", x1: M.left, x2: W - M.right, y1: y(min), y2: y(min) }));
  if (empty) root.append(svg("text", { class: "chart-empty", x: M.left + PW / 2, y: M.top + PH / 2, "text-anchor": "middle" }, "No data in this range"));
  return { root, y, x, band, min, empty };
}

/** Bars side by side per bucket, one per series. */
export function barChart(opts: ChartOptions, series: Series[]): SVGSVGElement {
  const { root, y, x, band, min, empty } = frame(opts, series, "bars");
  if (empty) return root;
  const width = Math.max(1, (band * 0.76) / series.length);
  series.forEach((s, si) => {
    const g = svg("g", { class: `series-${si}`, "data-series": s.name });
    s.values.forEach((v, i) => {
      if (v === null || v <= 0) return;
      const left = x(i) - (width * series.length) / 2 + width * si;
      const top = y(v);
      g.append(
        svg(
          "rect",
          { x: round(left), y: top, width: round(Math.max(1, width - 1)), height: round(Math.max(1, y(min) - top)), rx: 1.5, "data-value": v },
          svg("title", {}, `${opts.labels[i]} · ${s.name}: ${opts.format(v)}`),
        ),
      );
    });
    root.append(g);
  });
  return root;
}

/** A line per series, broken where values are missing, with a dot on every value. */
export function lineChart(opts: ChartOptions, series: Series[]): SVGSVGElement {
  const { root, y, x, empty } = frame(opts, series, "lines");
  if (empty) return root;
  series.forEach((s, si) => {
    const g = svg("g", { class: `series-${si}${s.dashed ? " dashed" : ""}`, "data-series": s.name });
    let d = "";
    let pen = false;
    s.values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) {
        pen = false;
        return;
      }
      d += `${pen ? "L" : "M"}${x(i)} ${y(v)}`;
      pen = true;
      g.append(svg("circle", { cx: x(i), cy: y(v), r: 2.5, "data-value": v }, svg("title", {}, `${opts.labels[i]} · ${s.name}: ${opts.format(v)}`)));
    });
    if (d) g.prepend(svg("path", { class: "line", d }));
    root.append(g);
  });
  return root;
}
