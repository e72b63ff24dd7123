/**
 * The memorization audit, engine side: which weights and data to audit, and where the report goes.
 * The worker does the decoding and scoring (engine/worker/whetstone_worker/jobs/audit.py); this module
 * builds its command from the run store and keeps the report in the run folder, written atomically
 * once complete, so an interrupted audit leaves the previous report (or none) intact.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "../protocol/messages";
import { effectiveBase, trainedWeights } from "../runs/lineage";
import type { RunStore } from "../runs/store";
import { writeFileAtomic, writeJsonAtomic } from "../util/atomic";
import type { AuditOptions, AuditReport } from "./schema";

export { AuditOptionsSchema, AuditReportSchema, type AuditOptions, type AuditReport } from "./schema";

export function auditPaths(store: Pick<RunStore, "runDir">, runId: string): { json: string; markdown: string } {
  const dir = join(store.runDir(runId), "reports");
  return { json: join(dir, "audit.json"), markdown: join(dir, "audit.md") };
}

/** The worker command for auditing `runId`, or an error saying why the run cannot be audited. */
export function auditCommand(store: RunStore, runId: string, opts: AuditOptions): (id: string) => Command {
  const tuned = trainedWeights(store, runId, "audit", "RUN_NOT_AUDITABLE", ", then audit it");
  const data = join(store.runDir(runId), "data", "train.jsonl");
  return (id) => ({
    v: 1,
    type: "audit",
    id,
    model_path: effectiveBase(store, runId),
    tuned_path: tuned.path,
    tuned_kind: tuned.kind,
    data_path: data,
    samples: opts.samples,
    prefix_tokens: opts.prefixTokens,
    continuation_tokens: opts.continuationTokens,
    seed: opts.seed,
    embedding_model: opts.embeddingModel,
  });
}

export function saveAuditReport(store: RunStore, runId: string, report: AuditReport): AuditReport {
  const paths = auditPaths(store, runId);
  const stored = { ...report, run_id: runId, created_at: new Date().toISOString() };
  writeJsonAtomic(paths.json, stored);
  writeFileAtomic(paths.markdown, formatAudit(stored) + "\n");
  return stored;
}

export function loadAuditReport(store: RunStore, runId: string): AuditReport | null {
  const { json } = auditPaths(store, runId);
  return existsSync(json) ? (JSON.parse(readFileSync(json, "utf8")) as AuditReport) : null;
}

const pct = (x: number | null | undefined) => (x === null || x === undefined ? "n/a" : `${(100 * x).toFixed(1)}%`);
const fixed = (x: number | null | undefined) => (x === null || x === undefined ? "n/a" : x.toFixed(3));

/** The side-by-side summary printed by `whetstone audit` and stored as reports/audit.md. */
export function formatAudit(report: AuditReport): string {
  const r = report as AuditReport & {
    settings?: Record<string, unknown>;
    counts?: { requested?: number; used?: number; skipped?: number; skipped_reasons?: Record<string, number> };
    embedder?: { name?: string; kind?: string; reason?: string };
    run_id?: string;
  };
  const rows: [string, string, string][] = [
    ["exact match of the whole continuation", pct(r.base.exact_match_rate), pct(r.tuned.exact_match_rate)],
    ["token LCS ratio (mean)", fixed(r.base.lcs_ratio_mean), fixed(r.tuned.lcs_ratio_mean)],
    ["semantic similarity (mean cosine)", fixed(r.base.semantic_similarity_mean), fixed(r.tuned.semantic_similarity_mean)],
  ];
  const w0 = Math.max(...rows.map((x) => x[0].length));
  const lines = [
    `# Memorization audit${r.run_id ? ` of ${r.run_id}` : ""}`,
    "",
    `| ${"metric".padEnd(w0)} | base   | tuned  |`,
    `| ${"-".repeat(w0)} | ------ | ------ |`,
    ...rows.map(([a, b, c]) => `| ${a.padEnd(w0)} | ${b.padEnd(6)} | ${c.padEnd(6)} |`),
    "",
  ];
  if (r.counts) lines.push(`Samples: ${r.counts.used ?? "?"} audited of ${r.counts.requested ?? "?"} requested${r.counts.skipped ? `, ${r.counts.skipped} skipped (${Object.entries(r.counts.skipped_reasons ?? {}).map(([k, v]) => `${k}: ${v}`).join(", ")})` : ""}.`);
  if (r.settings) lines.push(`Settings: ${Object.entries(r.settings).map(([k, v]) => `${k} ${String(v)}`).join(", ")}.`);
  if (r.embedder) lines.push(`Embedding model: ${r.embedder.name ?? "?"} (${r.embedder.kind ?? "?"}): ${r.embedder.reason ?? ""}`);
  lines.push(
    "",
    "Each sample: the prompt plus the first answer tokens go in; the model greedily continues; the continuation is compared with the training answer. Higher tuned than base numbers mean the model reproduces its training data.",
  );
  return lines.join("\n");
}
