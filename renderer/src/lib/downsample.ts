/**
 * Downsampling for display, never for storage: the store keeps every metrics row, charts draw at
 * most a few points per pixel. LTTB (Largest-Triangle-Three-Buckets, Steinarsson 2013) keeps the
 * points that carry the shape, so spikes and the first/last points survive; it is O(n) and
 * allocation-light, which keeps a 100k-point loss curve redrawing within a frame.
 */
export interface Point {
  x: number;
  y: number;
}

/** At most `threshold` points from `data` (sorted by x), first and last always kept. */
export function lttb(data: readonly Point[], threshold: number): Point[] {
  const n = data.length;
  if (threshold >= n || threshold < 3) return data.slice();
  const out: Point[] = [data[0]!];
  const every = (n - 2) / (threshold - 2);
  let a = 0;
  for (let i = 0; i < threshold - 2; i++) {
    // The average of the next bucket is the triangle's third corner.
    const nextStart = Math.floor((i + 1) * every) + 1;
    const nextEnd = Math.min(Math.floor((i + 2) * every) + 1, n);
    let avgX = 0;
    let avgY = 0;
    for (let j = nextStart; j < nextEnd; j++) {
      avgX += data[j]!.x;
      avgY += data[j]!.y;
    }
    const len = Math.max(nextEnd - nextStart, 1);
    avgX /= len;
    avgY /= len;
    const start = Math.floor(i * every) + 1;
    const end = Math.floor((i + 1) * every) + 1;
    const pa = data[a]!;
    let best = start;
    let bestArea = -1;
    for (let j = start; j < end; j++) {
      const p = data[j]!;
      const area = Math.abs((pa.x - avgX) * (p.y - pa.y) - (pa.x - p.x) * (avgY - pa.y));
      if (area > bestArea) {
        bestArea = area;
        best = j;
      }
    }
    out.push(data[best]!);
    a = best;
  }
  out.push(data[n - 1]!);
  return out;
}

/** Points of one metric from metrics rows, skipping rows where it is missing or not finite. */
export function series(rows: readonly Record<string, number | null | undefined>[], key: string, xKey = "step"): Point[] {
  const out: Point[] = [];
  for (const r of rows) {
    const x = r[xKey];
    const y = r[key];
    if (typeof x === "number" && typeof y === "number" && Number.isFinite(y)) out.push({ x, y });
  }
  return out;
}
