import type { ProgressInfo } from "../../../engine/api/events";
import { duration } from "../lib/format";

export function ProgressBar({ progress, label }: { progress: ProgressInfo | undefined; label: string }) {
  if (!progress) return null;
  const frac = progress.total ? Math.min(1, progress.current / progress.total) : undefined;
  return (
    <div className="progress">
      <progress aria-label={label} value={frac ?? undefined} max={1} />
      <span>
        {progress.phase} {progress.total ? `${progress.current}/${progress.total} ${progress.unit}` : ""} · elapsed {duration(progress.elapsed_s)} · ETA {duration(progress.eta_s)}
        {progress.message ? ` · ${progress.message}` : ""}
      </span>
    </div>
  );
}
