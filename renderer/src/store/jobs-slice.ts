/** Long engine tasks in flight: training progress by run, dataset reads, audits and exports. */
import type { StateCreator } from "zustand";
import type { ProgressInfo } from "../../../engine/api/events";
import type { AppState } from "./store";

export interface TaskState {
  state: "running" | "done" | "failed";
  error: { code: string; message: string; hint: string } | null;
}

export interface JobsSlice {
  /** Latest progress event per run (training, audit, export phases) or per dataset path. */
  progress: Record<string, ProgressInfo>;
  /** Tasks the UI started, by key such as `audit:<run>` or `export:<run>`. */
  tasks: Record<string, TaskState>;
  setProgress: (key: string, progress: ProgressInfo) => void;
  startTask: (key: string) => void;
  finishTask: (key: string, error?: TaskState["error"]) => void;
}

export const createJobsSlice: StateCreator<AppState, [], [], JobsSlice> = (set) => ({
  progress: {},
  tasks: {},
  setProgress: (key, progress) => set((s) => ({ progress: { ...s.progress, [key]: progress } })),
  startTask: (key) => set((s) => ({ tasks: { ...s.tasks, [key]: { state: "running", error: null } } })),
  finishTask: (key, error) => set((s) => ({ tasks: { ...s.tasks, [key]: { state: error ? "failed" : "done", error: error ?? null } } })),
});
