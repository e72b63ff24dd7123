/**
 * The Data step's synthesis: the panel's form and the one synthesis the app started, with its
 * report or error. It lives in the store, not the panel, so leaving the step (or the wizard) while
 * rows are written loses nothing; its progress is the jobs slice's, under `synth:<out>`.
 */
import type { StateCreator } from "zustand";
import { DEFAULT_SYNTH_FORM, type SynthForm, type SynthReport, type SynthRequest } from "../lib/synth";
import type { AppState } from "./store";

export interface SynthJob {
  request: SynthRequest;
  /** stopping: Cancel was pressed and the engine has not answered yet. */
  state: "running" | "stopping" | "done" | "failed" | "cancelled";
  report: SynthReport | null;
  error: { code: string; message: string; hint: string } | null;
}

export interface SynthSlice {
  synthForm: SynthForm;
  synthJob: SynthJob | null;
  setSynthForm: (patch: Partial<SynthForm>) => void;
  startSynth: (request: SynthRequest) => void;
  stoppingSynth: () => void;
  finishSynth: (report: SynthReport) => void;
  failSynth: (error: SynthJob["error"] & object, cancelled: boolean) => void;
}

export const createSynthSlice: StateCreator<AppState, [], [], SynthSlice> = (set) => ({
  synthForm: DEFAULT_SYNTH_FORM,
  synthJob: null,
  setSynthForm: (patch) => set((s) => ({ synthForm: { ...s.synthForm, ...patch } })),
  startSynth: (request) =>
    set((s) => {
      // The last attempt's numbers are not this one's: its progress starts from nothing.
      const { [`synth:${request.out}`]: _old, ...progress } = s.progress;
      return { synthJob: { request, state: "running", report: null, error: null }, progress };
    }),
  stoppingSynth: () => set((s) => (s.synthJob?.state === "running" ? { synthJob: { ...s.synthJob, state: "stopping" } } : {})),
  finishSynth: (report) => set((s) => (s.synthJob ? { synthJob: { ...s.synthJob, state: "done", report } } : {})),
  failSynth: (error, cancelled) => set((s) => (s.synthJob ? { synthJob: { ...s.synthJob, state: cancelled ? "cancelled" : "failed", error: cancelled ? null : error } } : {})),
});
