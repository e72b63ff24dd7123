/** The round loops the engine knows, by id: listed on start, then kept current by `rounds` events. */
import type { StateCreator } from "zustand";
import type { RoundsStatus } from "../../../engine/api/public";
import type { AppState } from "./store";

export interface RoundsSlice {
  roundLoops: Record<string, RoundsStatus>;
  roundLoopsError: string | null;
  setRoundLoops: (loops: RoundsStatus[]) => void;
  setRoundLoopsError: (message: string | null) => void;
  upsertRoundLoop: (loop: RoundsStatus) => void;
}

export const createRoundsSlice: StateCreator<AppState, [], [], RoundsSlice> = (set) => ({
  roundLoops: {},
  roundLoopsError: null,
  setRoundLoops: (loops) => set({ roundLoops: Object.fromEntries(loops.map((l) => [l.id, l])), roundLoopsError: null }),
  setRoundLoopsError: (message) => set({ roundLoopsError: message }),
  upsertRoundLoop: (loop) => set((s) => ({ roundLoops: { ...s.roundLoops, [loop.id]: loop } })),
});
