/** Where the user is and what they chose: view, theme, wizard step and draft (persisted). */
import type { StateCreator } from "zustand";
import { DEFAULT_DRAFT, chainedName, type Draft, type StartFrom, type StepId } from "../lib/draft";
import type { AppState } from "./store";

export type View = { name: "wizard" } | { name: "runs" } | { name: "run"; id: string } | { name: "sweep"; id: string } | { name: "rounds"; id: string } | { name: "compare" } | { name: "playground" };
export type Theme = "system" | "light" | "dark";

export interface UiSlice {
  view: View;
  theme: Theme;
  step: StepId;
  draft: Draft;
  compareIds: string[];
  navigate: (view: View) => void;
  setTheme: (theme: Theme) => void;
  setStep: (step: StepId) => void;
  updateDraft: (patch: Partial<Draft>) => void;
  resetDraft: () => void;
  /**
   * A new run that starts from a finished one: the same base model, method and settings, the run's
   * weights as its start; the data is chosen again (a DPO stage after SFT trains on other data),
   * and the last file's choices (skipping invalid rows) go with it.
   */
  chainFromRun: (from: StartFrom) => void;
  toggleCompare: (id: string) => void;
}

export const createUiSlice: StateCreator<AppState, [], [], UiSlice> = (set) => ({
  view: { name: "wizard" },
  theme: "system",
  step: "model",
  draft: DEFAULT_DRAFT,
  compareIds: [],
  navigate: (view) => set({ view }),
  setTheme: (theme) => set({ theme }),
  setStep: (step) => set({ step }),
  updateDraft: (patch) => set((s) => ({ draft: { ...s.draft, ...patch } })),
  resetDraft: () => set({ draft: DEFAULT_DRAFT, step: "model", report: null, reportError: null, plan: null }),
  chainFromRun: (from) =>
    set((s) => ({
      draft: { ...s.draft, name: chainedName({ name: from.name, initFrom: from }, s.draft.method), initFrom: from, modelPath: from.kind === "adapter" ? from.base : s.draft.modelPath, runId: null, sweepId: null, dataPath: null, dataName: null, skipInvalid: false, suggestedFor: null, trainAnyway: null },
      report: null,
      reportError: null,
      preview: null,
      plan: null,
      step: "data",
      view: { name: "wizard" },
    })),
  toggleCompare: (id) => set((s) => ({ compareIds: s.compareIds.includes(id) ? s.compareIds.filter((x) => x !== id) : [...s.compareIds, id] })),
});
