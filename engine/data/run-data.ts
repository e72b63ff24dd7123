/** Between a run config's data section and ingestion: snapshot options, and what the worker gets. */
import type { RunConfig } from "../config/schema";
import type { SnapshotOptions } from "./snapshot";

/** Options for writeSnapshot from a resolved config (CLI/API overrides win). */
export function snapshotOptionsFor(config: RunConfig, over: { skipInvalid?: boolean } = {}): SnapshotOptions {
  const d = config.data;
  return {
    validation: d.validation,
    validationSplit: d.validation_split,
    seed: config.training.seed,
    format: d.format,
    schema: d.schema,
    columns: d.columns,
    roles: d.roles,
    skipInvalid: over.skipInvalid ?? d.skip_invalid ?? false,
    dedupe: d.dedupe ?? false,
    method: config.method,
    promptFields: rewardFields(config),
  };
}

/** The data fields grpo's rewards compare completions with (a python reward's are its own business). */
export function rewardFields(config: Pick<RunConfig, "rewards">): string[] {
  return [...new Set((config.rewards ?? []).flatMap((r) => ("field" in r ? [r.field] : [])))];
}

/** Ingestion-only fields: applied when the snapshot is written, so the worker never sees them. */
const INGEST_ONLY = ["format", "schema", "columns", "roles", "skip_invalid", "dedupe"] as const;

export function workerDataConfig<T extends Record<string, unknown>>(data: T): Omit<T, (typeof INGEST_ONLY)[number]> {
  const out: Record<string, unknown> = { ...data };
  for (const k of INGEST_ONLY) delete out[k];
  return out as Omit<T, (typeof INGEST_ONLY)[number]>;
}
