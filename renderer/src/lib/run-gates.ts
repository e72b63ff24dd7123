/**
 * Why an action on a run is not available yet, in one sentence (shown beside the disabled button,
 * and as its description), and the audit's verdict line with what to do about it.
 */
import type { AuditReport } from "../../../engine/api/public";

/** null when a finished run's action (evaluate, audit, export) may start. */
export function needsCompletedRun(state: string | undefined, what: string): string | null {
  if (state === "completed") return null;
  if (state === undefined) return `Loading the run…`;
  if (state === "running" || state === "queued") return `${what} is available once training completes (the run is ${state}).`;
  return `${what} needs a completed run; this one is ${state}. Resume it from its last checkpoint, then come back.`;
}

export interface AuditVerdict {
  level: "ok" | "warn";
  text: string;
  advice: string;
}

export function auditVerdict(r: AuditReport): AuditVerdict {
  const n = (r.counts as { used?: number } | undefined)?.used ?? null;
  const tuned = (r.tuned as { exact_matches?: number }).exact_matches ?? Math.round(r.tuned.exact_match_rate * (n ?? 0));
  const base = (r.base as { exact_matches?: number }).exact_matches ?? Math.round(r.base.exact_match_rate * (n ?? 0));
  const of = n !== null ? ` of ${n}` : "";
  const text = `The tuned model reproduces ${tuned}${of} training answers verbatim; the base model ${base}.`;
  const lcsGain = r.tuned.lcs_ratio_mean - r.base.lcs_ratio_mean;
  if (tuned > base)
    return { level: "warn", text, advice: "It memorized some of your data word for word: turn on goldfish loss (Method step), train fewer epochs, or remove duplicates, before sharing the model." };
  if (lcsGain > 0.2)
    return { level: "warn", text, advice: `No verbatim copies, but its continuations overlap the training answers much more than the base's (${(lcsGain * 100).toFixed(0)} points more token overlap): goldfish loss or fewer epochs reduce this.` };
  return { level: "ok", text, advice: "No sign of memorization beyond what the base model already reproduces." };
}
