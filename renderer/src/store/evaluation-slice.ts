/**
 * What the engine measured after training, by run: judge evaluations, memorization audits,
 * benchmarks, exports, and the playground's streamed answers (token events append to the side they belong to).
 */
import type { StateCreator } from "zustand";
import type { AuditReport, BenchReport } from "../../../engine/api/public";
import type { ExportRecord } from "../../../engine/api/public";
import type { EvalReport } from "../../../engine/api/public";
import type { AppState } from "./store";

export type Side = "base" | "tuned";
/** Streamed answers of the playground's current request: side → prompt index → text so far. */
export type Streams = Record<Side, string[]>;

export interface EvaluationSlice {
  evals: Record<string, EvalReport | null>;
  audits: Record<string, AuditReport | null>;
  benches: Record<string, BenchReport | null>;
  exports: Record<string, ExportRecord[]>;
  streams: Record<string, Streams>;
  setEval: (runId: string, report: EvalReport | null) => void;
  setAudit: (runId: string, report: AuditReport | null) => void;
  setBench: (runId: string, report: BenchReport | null) => void;
  setExports: (runId: string, records: ExportRecord[]) => void;
  resetStream: (runId: string) => void;
  appendToken: (runId: string, side: Side, index: number, text: string) => void;
  setAnswers: (runId: string, side: Side, answers: string[]) => void;
}

export const createEvaluationSlice: StateCreator<AppState, [], [], EvaluationSlice> = (set) => ({
  evals: {},
  audits: {},
  benches: {},
  exports: {},
  streams: {},
  setEval: (runId, report) => set((s) => ({ evals: { ...s.evals, [runId]: report } })),
  setAudit: (runId, report) => set((s) => ({ audits: { ...s.audits, [runId]: report } })),
  setBench: (runId, report) => set((s) => ({ benches: { ...s.benches, [runId]: report } })),
  setExports: (runId, records) => set((s) => ({ exports: { ...s.exports, [runId]: records } })),
  resetStream: (runId) => set((s) => ({ streams: { ...s.streams, [runId]: { base: [], tuned: [] } } })),
  appendToken: (runId, side, index, text) =>
    set((s) => {
      const cur = s.streams[runId] ?? { base: [], tuned: [] };
      const answers = [...cur[side]];
      answers[index] = (answers[index] ?? "") + text;
      return { streams: { ...s.streams, [runId]: { ...cur, [side]: answers } } };
    }),
  setAnswers: (runId, side, answers) =>
    set((s) => {
      const cur = s.streams[runId] ?? { base: [], tuned: [] };
      return { streams: { ...s.streams, [runId]: { ...cur, [side]: answers } } };
    }),
});
