/** The sweeps the engine knows, by id: listed on start, then kept current by `sweep` events. */
import type { StateCreator } from "zustand";
import type { SweepStatus } from "../../../engine/api/public";
import type { AppState } from "./store";

export interface SweepsSlice {
  sweeps: Record<string, SweepStatus>;
  sweepsError: string | null;
  setSweeps: (sweeps: SweepStatus[]) => void;
  setSweepsError: (message: string | null) => void;
  upsertSweep: (sweep: SweepStatus) => void;
}

export const createSweepsSlice: StateCreator<AppState, [], [], SweepsSlice> = (set) => ({
  sweeps: {},
  sweepsError: null,
  setSweeps: (sweeps) => set({ sweeps: Object.fromEntries(sweeps.map((s) => [s.id, s])), sweepsError: null }),
  setSweepsError: (message) => set({ sweepsError: message }),
  upsertSweep: (sweep) => set((s) => ({ sweeps: { ...s.sweeps, [sweep.id]: sweep } })),
});
