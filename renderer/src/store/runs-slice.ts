/**
 * Runs as the engine reports them: status, metrics rows, log lines. Metrics arrays can reach 100k
 * rows, so appends push in place and bump a version in a fresh wrapper object (one O(1) update per
 * event instead of copying the array); selectors compare the wrapper, charts memo on the version.
 */
import type { StateCreator } from "zustand";
import type { RunStatus } from "../../../engine/api/public";
import type { AppState } from "./store";

export type MetricsRow = Record<string, number | null> & { step: number };
export interface MetricsSeries {
  rows: MetricsRow[];
  version: number;
}

export interface RunsSlice {
  runs: Record<string, RunStatus>;
  runsError: string | null;
  metrics: Record<string, MetricsSeries>;
  logs: Record<string, string[]>;
  setRuns: (runs: RunStatus[]) => void;
  setRunsError: (message: string | null) => void;
  upsertRun: (run: RunStatus) => void;
  setMetrics: (id: string, rows: MetricsRow[]) => void;
  appendMetrics: (id: string, row: MetricsRow) => void;
  setLog: (id: string, lines: string[]) => void;
  appendLog: (id: string, line: string) => void;
}

const MAX_LOG_LINES = 2000;

export const createRunsSlice: StateCreator<AppState, [], [], RunsSlice> = (set) => ({
  runs: {},
  runsError: null,
  metrics: {},
  logs: {},
  setRuns: (runs) => set({ runs: Object.fromEntries(runs.map((r) => [r.id, r])), runsError: null }),
  setRunsError: (message) => set({ runsError: message }),
  upsertRun: (run) => set((s) => ({ runs: { ...s.runs, [run.id]: run } })),
  setMetrics: (id, rows) => set((s) => ({ metrics: { ...s.metrics, [id]: { rows: [...rows], version: (s.metrics[id]?.version ?? 0) + 1 } } })),
  appendMetrics: (id, row) =>
    set((s) => {
      const cur = s.metrics[id] ?? { rows: [], version: 0 };
      const last = cur.rows[cur.rows.length - 1];
      // After a resume the worker repeats steps: the later row replaces the earlier, as on disk.
      if (last && row.step <= last.step) {
        const at = cur.rows.findIndex((r) => r.step >= row.step);
        cur.rows.splice(at, cur.rows.length - at, row);
      } else cur.rows.push(row);
      return { metrics: { ...s.metrics, [id]: { rows: cur.rows, version: cur.version + 1 } } };
    }),
  setLog: (id, lines) => set((s) => ({ logs: { ...s.logs, [id]: lines.slice(-MAX_LOG_LINES) } })),
  appendLog: (id, line) => set((s) => ({ logs: { ...s.logs, [id]: [...(s.logs[id] ?? []), line].slice(-MAX_LOG_LINES) } })),
});
