/**
 * An SVG line chart: each series downsampled (LTTB) to about one point per horizontal pixel. A
 * series of few points (a validation loss measured once or twice, a one-step run) is drawn as
 * dots too, so it shows; the y axis never goes below zero for data that does not, and its labels
 * carry as many decimals as the visible range needs. A series may carry an interval per point (a
 * confidence interval), shaded around its line.
 */
import { useMemo } from "react";
import { lttb, type Point } from "../lib/downsample";
import { axisNum, num } from "../lib/format";

export interface ChartSeries {
  label: string;
  points: Point[];
  color?: string;
  /** A reference line (a threshold), drawn dashed. */
  dashed?: boolean;
  /** An interval around each point (a confidence interval), drawn as a shaded band; such a series is not downsampled. */
  bands?: { low: number; high: number }[];
}

const W = 560;
const H = 190;
const PAD = { l: 64, r: 12, t: 10, b: 24 };
/** Series with at most this many points get a dot per point. */
const DOTS = 20;
const COLORS = ["var(--c1)", "var(--c2)", "var(--c3)", "var(--c4)", "var(--c5)"];

export function LineChart({ title, series, version = 0, logY = false, xLabel = "step" }: { title: string; series: ChartSeries[]; version?: number; logY?: boolean; xLabel?: string }) {
  const drawn = useMemo(() => {
    const shown = series.map((s) => (s.bands ? s : { ...s, points: lttb(s.points, W - PAD.l - PAD.r) }));
    const all = shown.flatMap((s) => [...s.points, ...(s.bands ?? []).flatMap((b, j) => [{ x: s.points[j]!.x, y: b.low }, { x: s.points[j]!.x, y: b.high }])]);
    if (all.length === 0) return null;
    const fy = (y: number) => (logY ? Math.log10(Math.max(y, 1e-12)) : y);
    let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
    for (const p of all) {
      x0 = Math.min(x0, p.x);
      x1 = Math.max(x1, p.x);
      y0 = Math.min(y0, fy(p.y));
      y1 = Math.max(y1, fy(p.y));
    }
    if (x1 === x0) [x0, x1] = [Math.max(0, x0 - 1), x0 + 1];
    if (y1 === y0) {
      const pad = Math.abs(y0) * 0.1 || 1;
      [y0, y1] = [y0 - pad, y1 + pad];
    }
    // Losses, learning rates and norms are never negative: neither is their axis.
    const nonNegative = all.every((p) => p.y >= 0);
    if (nonNegative && !logY) y0 = Math.max(0, y0);
    const sx = (x: number) => PAD.l + ((x - x0) / (x1 - x0)) * (W - PAD.l - PAD.r);
    const sy = (y: number) => PAD.t + (1 - (fy(y) - y0) / (y1 - y0)) * (H - PAD.t - PAD.b);
    const lines = shown.map((s, i) => ({
      label: s.label,
      color: s.color ?? COLORS[i % COLORS.length]!,
      dashed: s.dashed === true,
      d: s.points.map((p, j) => `${j ? "L" : "M"}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(""),
      dots: s.points.length <= DOTS && !s.dashed ? s.points.map((p) => [sx(p.x), sy(p.y)] as const) : [],
      band: s.bands
        ? [...s.points.map((p, j) => `${sx(p.x).toFixed(1)},${sy(s.bands![j]!.high).toFixed(1)}`), ...s.points.map((p, j) => `${sx(p.x).toFixed(1)},${sy(s.bands![j]!.low).toFixed(1)}`).reverse()].join(" ")
        : null,
      last: s.points[s.points.length - 1],
    }));
    const inv = (v: number) => (logY ? 10 ** v : v);
    return { lines, x0, x1, yTop: inv(y1), yBottom: inv(y0), yMid: inv((y0 + y1) / 2) };
    // `version` changes when rows were appended in place.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [series, version, logY]);

  const total = series.reduce((a, s) => a + s.points.length, 0);
  const summary = drawn ? `${title}: ${series.map((s) => `${s.label} last ${num(s.points[s.points.length - 1]?.y)}`).join(", ")}` : `${title}: no data yet`;
  return (
    <figure className="chart" data-points={total}>
      <figcaption>
        <span>{title}</span>
        {drawn && series.length > 1 && (
          <span className="legend">
            {drawn.lines.map((l) => (
              <span key={l.label}>
                <i style={{ background: l.color }} /> {l.label}
              </span>
            ))}
          </span>
        )}
        {drawn && series.length === 1 && <span className="last">{num(drawn.lines[0]!.last?.y)}</span>}
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={summary}>
        <line x1={PAD.l} x2={W - PAD.r} y1={H - PAD.b} y2={H - PAD.b} className="axis" />
        <line x1={PAD.l} x2={PAD.l} y1={PAD.t} y2={H - PAD.b} className="axis" />
        {drawn ? (
          <>
            <line x1={PAD.l} x2={W - PAD.r} y1={(PAD.t + H - PAD.b) / 2} y2={(PAD.t + H - PAD.b) / 2} className="grid" />
            <text x={PAD.l - 6} y={PAD.t + 8} className="tick" textAnchor="end">{axisNum(drawn.yTop, drawn.yTop - drawn.yBottom)}</text>
            <text x={PAD.l - 6} y={(PAD.t + H - PAD.b) / 2 + 4} className="tick" textAnchor="end">{axisNum(drawn.yMid, drawn.yTop - drawn.yBottom)}</text>
            <text x={PAD.l - 6} y={H - PAD.b} className="tick" textAnchor="end">{axisNum(drawn.yBottom, drawn.yTop - drawn.yBottom)}</text>
            <text x={PAD.l} y={H - 6} className="tick">{num(drawn.x0)}</text>
            <text x={W - PAD.r} y={H - 6} className="tick" textAnchor="end">{xLabel} {num(drawn.x1)}</text>
            {drawn.lines.map((l) => (
              <g key={l.label}>
                {l.band && <polygon points={l.band} fill={l.color} className="band" />}
                <path d={l.d} stroke={l.color} className="line" strokeDasharray={l.dashed ? "6 4" : undefined} />
                {l.dots.map(([x, y], i) => (
                  <circle key={i} cx={x.toFixed(1)} cy={y.toFixed(1)} r={3} fill={l.color} className="dot" />
                ))}
              </g>
            ))}
          </>
        ) : (
          <text x={W / 2} y={H / 2} className="tick" textAnchor="middle">waiting for the first step…</text>
        )}
      </svg>
    </figure>
  );
}
