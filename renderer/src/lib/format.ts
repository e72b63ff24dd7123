/** Numbers and durations as the UI shows them (the CLI's conventions). */
export function duration(seconds: number | null | undefined): string {
  if (seconds == null || !Number.isFinite(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

export function bytes(n: number | null | undefined): string {
  if (n == null) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v >= 100 || i === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

export function gib(n: number): string {
  return `${(n / 2 ** 30).toFixed(n < 10 * 2 ** 30 ? 1 : 0)} GiB`;
}

/** 3 significant digits, compact for big and small magnitudes (losses, learning rates, tokens/s). */
export function num(v: number | null | undefined): string {
  if (v == null || !Number.isFinite(v)) return "–";
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(2);
  if (a >= 1000) return `${(v / 1000).toFixed(1)}k`;
  return Number(v.toPrecision(4)).toString();
}

export function percent(v: number | null | undefined): string {
  return v == null ? "–" : `${(v * 100).toFixed(1)}%`;
}

/**
 * An axis label: as many decimals as the axis range needs to tell its ticks apart (a range of
 * 0.0004 shows 0.00210, 0.00230, 0.00250), whole numbers for big values, exponents for tiny or huge.
 */
export function axisNum(v: number, span: number): string {
  if (!Number.isFinite(v)) return "–";
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-4 || a >= 1e7)) return v.toExponential(2);
  if (a >= 1e4) return `${(v / 1000).toFixed(a >= 1e5 ? 0 : 1)}k`;
  const decimals = span > 0 ? Math.max(0, Math.min(6, Math.ceil(-Math.log10(span)) + 1)) : 2;
  return v.toFixed(decimals);
}
