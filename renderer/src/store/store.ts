/**
 * One store from slices (zustand's slices pattern). Engine events enter only through
 * `applyEngineEvent`, which routes each to a slice action. Only UI preferences, the wizard draft and
 * the engine's last answers about that draft (model check, data report, plan) persist in
 * localStorage; run data lives in the engine and is re-read on start.
 */
import { create } from "zustand";
import { createJSONStorage, persist } from "zustand/middleware";
import type { EngineEvent } from "../../../engine/api/events";
import { createRunsSlice, type RunsSlice } from "./runs-slice";
import { createJobsSlice, type JobsSlice } from "./jobs-slice";
import { createDatasetsSlice, type DatasetsSlice } from "./datasets-slice";
import { createEvaluationSlice, type EvaluationSlice } from "./evaluation-slice";
import { createUiSlice, type UiSlice } from "./ui-slice";
import { createChecksSlice, type ChecksSlice } from "./checks-slice";
import { createSweepsSlice, type SweepsSlice } from "./sweeps-slice";
import { createSynthSlice, type SynthSlice } from "./synth-slice";
import { createRoundsSlice, type RoundsSlice } from "./rounds-slice";
import { DEFAULT_DRAFT } from "../lib/draft";

export type AppState = RunsSlice & JobsSlice & DatasetsSlice & EvaluationSlice & UiSlice & ChecksSlice & SweepsSlice & SynthSlice & RoundsSlice;

export const createAppStore = (storage: Storage | undefined = globalThis.localStorage) =>
  create<AppState>()(
    persist(
      (...a) => ({
        ...createRunsSlice(...a),
        ...createJobsSlice(...a),
        ...createDatasetsSlice(...a),
        ...createEvaluationSlice(...a),
        ...createUiSlice(...a),
        ...createChecksSlice(...a),
        ...createSweepsSlice(...a),
        ...createSynthSlice(...a),
        ...createRoundsSlice(...a),
      }),
      {
        name: "whetstone-ui",
        version: 1,
        storage: createJSONStorage(() => storage ?? memoryStorage()),
        // The checks' last answers persist with the draft, so after a reload every step that was done stays
        // done while it is checked again (the full issue list is dropped: the summary is what is shown).
        partialize: (s) => ({ theme: s.theme, step: s.step, draft: s.draft, report: s.report && { ...s.report, issues: s.report.issues.slice(0, 20) }, modelCheck: s.modelCheck, plan: s.plan, inspectedWith: s.inspectedWith }),
        // A draft saved by an older build gains the fields added since.
        merge: (saved, current) => {
          const p = (saved ?? {}) as Partial<AppState>;
          return { ...current, ...p, draft: { ...DEFAULT_DRAFT, ...(p.draft ?? {}) } };
        },
      },
    ),
  );

function memoryStorage(): Storage {
  const m = new Map<string, string>();
  return {
    get length() {
      return m.size;
    },
    clear: () => m.clear(),
    getItem: (k) => m.get(k) ?? null,
    key: (i) => [...m.keys()][i] ?? null,
    removeItem: (k) => void m.delete(k),
    setItem: (k, v) => void m.set(k, v),
  };
}

export const useAppStore = createAppStore();

export function applyEngineEvent(event: EngineEvent, store: Pick<typeof useAppStore, "getState"> = useAppStore): void {
  const s = store.getState();
  switch (event.type) {
    case "run":
      return s.upsertRun(event.run);
    case "metrics":
      return s.appendMetrics(event.runId, event.row);
    case "log":
      return s.appendLog(event.runId, event.line);
    case "preflight":
      return s.appendLog(event.runId, event.text);
    case "progress":
      return s.setProgress(event.runId, event.progress);
    case "dataset":
      return s.setProgress(`dataset:${event.path}`, event.progress);
    case "token":
      return s.appendToken(event.runId, event.side, event.index, event.text);
    case "download":
      return s.setProgress(`download:${event.repoId}`, event.progress);
    case "sweep":
      return s.upsertSweep(event.sweep);
    case "synth":
      return s.setProgress(`synth:${event.out}`, event.progress);
    case "rounds":
      return s.upsertRoundLoop(event.rounds);
  }
}
