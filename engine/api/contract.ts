/**
 * The engine's API, one typed contract for every channel: the loopback HTTP server, the Electron
 * IPC bridge and the renderer's client are all generated from this table, and every request is
 * validated against it at runtime in one place (`dispatch`).
 */
import { z } from "zod";
import { RunStatusSchema } from "../runs/types";
import { AuditOptionsSchema, AuditReportSchema } from "../audit/schema";

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
    }),
    output: RunStatusSchema,
  },
  resumeRun: { input: RunRef, output: RunStatusSchema },
  cancelRun: { input: RunRef, output: RunStatusSchema },
  /** Memorization audit of a finished run, base vs tuned; stored in the run's reports/. */
  auditRun: { input: AuditOptionsSchema.partial().extend({ id: z.string().min(1) }).strict(), output: AuditReportSchema },
  getAudit: { input: RunRef, output: AuditReportSchema.nullable() },
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
