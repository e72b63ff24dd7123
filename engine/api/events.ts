import type { RunStatus } from "../runs/types";
import type { MetricsRow } from "../runs/store";
import type { SweepStatus } from "../sweep/schema";
import type { RoundsStatus } from "../rounds/schema";

export interface ProgressInfo {
  phase: string;
  current: number;
  total: number | null;
  unit: string;
  elapsed_s: number;
  eta_s: number | null;
  message: string;
}

/** Everything the engine tells its clients (CLI, SSE, IPC) as it happens. */
export type EngineEvent =
  | { type: "run"; run: RunStatus }
  | { type: "metrics"; runId: string; row: MetricsRow }
  | { type: "progress"; runId: string; progress: ProgressInfo }
  | { type: "log"; runId: string; line: string }
  /** A resume chose its checkpoint (path null: none verified, the run starts over); newer ones skipped, with why. */
  | { type: "resuming"; runId: string; step: number; path: string | null; skipped: { name: string; reason: string }[] }
  /** createRun's preflight: why and what it measures (fits null), then the measurement (fits true or false); also in the run's log. */
  | { type: "preflight"; runId: string; fits: boolean | null; text: string }
  /** A streamed piece of an answer (generate with stream: true). */
  | { type: "token"; runId: string; side: "base" | "tuned"; index: number; text: string }
  /** A dataset being read by inspectDataset (bytes, with ETA). */
  | { type: "dataset"; path: string; progress: ProgressInfo }
  /** A hub download by pullModel (bytes, with ETA). */
  | { type: "download"; repoId: string; progress: ProgressInfo }
  /** A sweep's state, each time it changes (a trial starts, is judged at its warm-up, ends; the judge's pick). */
  | { type: "sweep"; sweep: SweepStatus }
  /** A synthesis into `out` (synthData): the model loading, then rows in the file of the n asked for, with ETA. */
  | { type: "synth"; out: string; progress: ProgressInfo }
  /** A rounds loop's state, each time it changes (a round's phase starts or ends, a match is judged, the loop stops). */
  | { type: "rounds"; rounds: RoundsStatus };

/**
 * Every event type, for listeners that must name them (the browser's SSE client subscribes per type):
 * the check below fails to compile when a type of EngineEvent is missing here.
 */
export const ENGINE_EVENT_TYPES = ["run", "metrics", "progress", "log", "resuming", "preflight", "token", "dataset", "download", "sweep", "synth", "rounds"] as const satisfies readonly EngineEvent["type"][];
type Unlisted = Exclude<EngineEvent["type"], (typeof ENGINE_EVENT_TYPES)[number]>;
export const EVERY_EVENT_TYPE_LISTED: [Unlisted] extends [never] ? true : Unlisted = true;
