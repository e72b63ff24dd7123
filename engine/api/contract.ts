/**
 * The engine's API, one typed contract for every channel: the loopback HTTP server, the Electron
 * IPC bridge and the renderer's client are all generated from this table, and every request is
 * validated against it at runtime in one place (`dispatch`).
 */
import { z } from "zod";
import { RunStatusSchema } from "../runs/types";
import { AuditOptionsSchema, AuditReportSchema } from "../audit/schema";
import { ExportOptionsSchema, ExportRecordSchema } from "../export/schema";
import { DatasetReportSchema, InspectOptionsSchema, PreviewOptionsSchema, SamplePreviewSchema } from "../data/report";

const RunRef = z.strictObject({ id: z.string().min(1) });
const MetricsRowSchema = z.record(z.string(), z.number().nullable());

export const API = {
  health: {
    input: z.strictObject({}),
    output: z.object({ version: z.string(), protocol: z.number(), home: z.string(), queue: z.object({ running: z.number(), waiting: z.number() }) }),
  },
  listRuns: { input: z.strictObject({}), output: z.array(RunStatusSchema) },
  getRun: {
    input: RunRef,
    output: z.object({ status: RunStatusSchema, config: z.record(z.string(), z.unknown()), data: z.record(z.string(), z.unknown()).nullable() }),
  },
  getMetrics: { input: z.strictObject({ id: z.string().min(1), since: z.number().int().min(0).optional() }), output: z.array(MetricsRowSchema) },
  getLog: { input: z.strictObject({ id: z.string().min(1), tail: z.number().int().positive().max(100_000).optional() }), output: z.array(z.string()) },
  createRun: {
    input: z.strictObject({
      /** A config object (wizard, HTTP) … */
      config: z.unknown().optional(),
      /** … or a config file on this machine (CLI). */
      configPath: z.string().min(1).optional(),
      /** Folder that relative paths in `config` are resolved against. */
      baseDir: z.string().min(1).optional(),
      /** Train on the valid rows and list the skipped ones (overrides data.skip_invalid). */
      skipInvalid: z.boolean().optional(),
    }),
    output: RunStatusSchema,
  },
  resumeRun: { input: RunRef, output: RunStatusSchema },
  cancelRun: { input: RunRef, output: RunStatusSchema },
  /** Memorization audit of a finished run, base vs tuned; stored in the run's reports/. */
  auditRun: { input: AuditOptionsSchema.partial().extend({ id: z.string().min(1) }).strict(), output: AuditReportSchema },
  getAudit: { input: RunRef, output: AuditReportSchema.nullable() },
  /** Write a finished run's model as safetensors, adapter, gguf or onnx; recorded in the run's reports/exports.json. */
  exportRun: { input: ExportOptionsSchema.extend({ id: z.string().min(1) }), output: ExportRecordSchema },
  getExports: { input: RunRef, output: z.array(ExportRecordSchema) },
  /** Stop a queued or running export of a run (nothing is left at its destination). */
  cancelExport: { input: RunRef, output: z.object({ cancelled: z.boolean() }) },
  /** A dataset file or folder: format, schema, issues, statistics, preview handles (progress events: `dataset`). */
  inspectDataset: { input: InspectOptionsSchema.extend({ path: z.string().min(1) }), output: DatasetReportSchema },
  /** One sample through the model's chat template: tokens with trained and goldfish-dropped marks. */
  previewDataset: { input: PreviewOptionsSchema.extend({ path: z.string().min(1) }), output: SamplePreviewSchema },
} as const;

export type Api = typeof API;
export type ApiMethod = keyof Api;
export type ApiInput<M extends ApiMethod> = z.input<Api[M]["input"]>;
export type ApiOutput<M extends ApiMethod> = z.output<Api[M]["output"]>;
export type ApiHandlers = { [M in ApiMethod]: (input: z.output<Api[M]["input"]>) => Promise<ApiOutput<M>> | ApiOutput<M> };

export const API_METHODS = Object.keys(API) as ApiMethod[];

export function isApiMethod(name: string): name is ApiMethod {
  return Object.prototype.hasOwnProperty.call(API, name);
}
