/** The dataset the wizard is looking at: its report (issues, stats) and one templated sample. */
import type { StateCreator } from "zustand";
import type { DatasetReport, SamplePreview } from "../../../engine/api/public";
import type { AppState } from "./store";

export interface DatasetsSlice {
  report: DatasetReport | null;
  /** The model folder whose tokenizer counted the report's tokens ("" for none). */
  inspectedWith: string | null;
  reportError: { code: string; message: string; hint: string } | null;
  inspecting: boolean;
  preview: SamplePreview | null;
  previewError: string | null;
  beginInspect: (keep?: boolean) => void;
  setReport: (report: DatasetReport, model?: string) => void;
  setReportError: (error: { code: string; message: string; hint: string }) => void;
  setPreview: (preview: SamplePreview | null, error?: string) => void;
}

export const createDatasetsSlice: StateCreator<AppState, [], [], DatasetsSlice> = (set) => ({
  report: null,
  inspectedWith: null,
  reportError: null,
  inspecting: false,
  preview: null,
  previewError: null,
  /** `keep`: the report stays shown (and the step stays done) while the same file is read again. */
  beginInspect: (keep = false) => set(keep ? { inspecting: true, reportError: null } : { inspecting: true, report: null, reportError: null, preview: null, previewError: null }),
  setReport: (report, model = "") => set({ report, inspectedWith: model, inspecting: false, reportError: null }),
  setReportError: (reportError) => set({ reportError, inspecting: false, report: null }),
  setPreview: (preview, error) => set({ preview, previewError: error ?? null }),
});
