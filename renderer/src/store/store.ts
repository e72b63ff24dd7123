/** One store from slices (zustand's slices pattern); engine events enter only through slice actions. */
import { create } from "zustand";
import { createRunsSlice, type RunsSlice } from "./runs-slice";

export type AppState = RunsSlice;

export const useAppStore = create<AppState>()((...a) => ({
  ...createRunsSlice(...a),
}));
