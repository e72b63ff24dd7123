/**
 * What the engine said about the draft: the model folder check and the run plan (the data report
 * is the datasets slice's). Kept with the draft across reloads, so a step that was done stays done
 * while it is checked again in the background (useDraftChecks), instead of greying out.
 */
import type { StateCreator } from "zustand";
import type { ApiOutput } from "../../../engine/api/contract";
import type { AppState } from "./store";

export type ModelCheck = ApiOutput<"checkModel">;
export type RunPlan = ApiOutput<"planRun">;

export interface ChecksSlice {
  modelCheck: ModelCheck | null;
  checkingModel: boolean;
  /** The plan and the config (as JSON) it was made for. */
  plan: { result: RunPlan; config: string } | null;
  planError: { config: string; message: string } | null;
  setModelCheck: (check: ModelCheck | null, checking?: boolean) => void;
  setPlan: (plan: ChecksSlice["plan"], error?: ChecksSlice["planError"]) => void;
}

export const createChecksSlice: StateCreator<AppState, [], [], ChecksSlice> = (set) => ({
  modelCheck: null,
  checkingModel: false,
  plan: null,
  planError: null,
  setModelCheck: (modelCheck, checking = false) => set(modelCheck ? { modelCheck, checkingModel: checking } : { checkingModel: checking }),
  setPlan: (plan, planError = null) => set({ plan, planError }),
});
