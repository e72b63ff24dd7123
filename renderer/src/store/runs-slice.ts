import type { StateCreator } from "zustand";
import type { RunStatus } from "../../../engine/runs/types";
import type { EngineEvent } from "../../../engine/api/events";
import type { AppState } from "./store";

export interface RunsSlice {
  runs: Record<string, RunStatus>;
  runsError: string | null;
  setRuns: (runs: RunStatus[]) => void;
  setRunsError: (message: string | null) => void;
  applyEvent: (event: EngineEvent) => void;
}

export const createRunsSlice: StateCreator<AppState, [], [], RunsSlice> = (set) => ({
  runs: {},
  runsError: null,
  setRuns: (runs) => set({ runs: Object.fromEntries(runs.map((r) => [r.id, r])), runsError: null }),
  setRunsError: (message) => set({ runsError: message }),
  applyEvent: (event) => {
    if (event.type !== "run") return;
    set((s) => ({ runs: { ...s.runs, [event.run.id]: event.run } }));
  },
});
