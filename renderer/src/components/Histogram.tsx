/** Bars for a length histogram (`le`: the bucket's upper bound, null for the overflow bucket). */
export function Histogram({ title, buckets, limit }: { title: string; buckets: { le: number | null; count: number }[]; limit?: number }) {
  const max = Math.max(1, ...buckets.map((b) => b.count));
  return (
    <figure className="histogram">
      <figcaption>{title}</figcaption>
      <ol aria-label={title}>
        {buckets.map((b, i) => {
          const label = b.le == null ? `> ${buckets[i - 1]?.le ?? 0}` : `≤ ${b.le}`;
          const over = limit != null && (b.le == null || b.le > limit);
          return (
            <li key={i} title={`${label}: ${b.count}`} aria-label={`${label} tokens: ${b.count} samples`}>
              <span className={over ? "bar over" : "bar"} style={{ height: `${(b.count / max) * 100}%` }} />
              <small>{label.replace("≤ ", "")}</small>
            </li>
          );
        })}
      </ol>
    </figure>
  );
}
