/** Step 6: what the tuned model learned (a judge, base vs tuned; standard benchmarks), and what it memorized (audit). */
import { useEffect, useState } from "react";
import { JudgePanel } from "./JudgePanel";
import { BenchPanel } from "./BenchPanel";
import { useAppStore } from "../store/store";
import { useClient } from "../client/context";
import { useTask } from "../client/use-task";
import { ErrorBox } from "../components/ErrorBox";
import { ProgressBar } from "../components/ProgressBar";
import { percent, num } from "../lib/format";
import type { AuditReport } from "../../../engine/api/public";
import { TableHead } from "../components/TableHead";
import { auditVerdict, needsCompletedRun } from "../lib/run-gates";

export function EvaluateStep() {
  const runId = useAppStore((s) => s.draft.runId);
  if (!runId) return <p>Train a model first (step 5).</p>;
  return (
    <>
      <JudgePanel runId={runId} />
      <BenchPanel runId={runId} />
      <AuditPanel runId={runId} />
    </>
  );
}

export function AuditPanel({ runId }: { runId: string }) {
  const client = useClient();
  const audit = useAppStore((s) => s.audits[runId]);
  const progress = useAppStore((s) => s.progress[runId]);
  const state = useAppStore((s) => s.runs[runId]?.state);
  const [samples, setSamples] = useState(50);
  const { busy, error, run: track } = useTask(`audit:${runId}`);
  const gate = needsCompletedRun(state, "The audit");

  useEffect(() => {
    client.getAudit({ id: runId }).then((r) => useAppStore.getState().setAudit(runId, r), () => undefined);
  }, [client, runId]);

  const run = () => track(async () => useAppStore.getState().setAudit(runId, await client.auditRun({ id: runId, samples })));
  return (
    <section aria-label="Memorization audit" className="audit">
      <h3>Memorization audit</h3>
      <p className="muted">
        Training prompts plus the first answer tokens go in; the model continues greedily; the continuation is compared with the training answer. A tuned model that reproduces answers verbatim has memorized them.
      </p>
      <div className="row">
        <label>
          Samples <input type="number" min={1} max={100000} value={samples} onChange={(e) => setSamples(Math.max(1, Number(e.target.value) || 1))} aria-label="Audit samples" />
        </label>
        <button type="button" className="primary" onClick={run} disabled={busy || gate !== null} aria-describedby={gate ? "audit-gate" : undefined}>
          {busy ? "Auditing…" : audit ? "Audit again" : "Run the audit"}
        </button>
        {busy && (
          <button type="button" className="danger" onClick={() => client.cancelTask({ id: runId, kind: "audit" })}>
            Cancel
          </button>
        )}
        {gate && !busy && (
          <span id="audit-gate" className="muted small">
            {gate}
          </span>
        )}
      </div>
      {busy && <ProgressBar progress={progress} label="Audit progress" />}
      <ErrorBox error={error} />
      {audit && <AuditTable report={audit} />}
    </section>
  );
}

export function AuditTable({ report }: { report: AuditReport }) {
  const verdict = auditVerdict(report);
  const rows: [string, (s: AuditReport["base"]) => string][] = [
    ["Exact-match extraction", (s) => percent(s.exact_match_rate)],
    ["Token LCS ratio (mean)", (s) => num(s.lcs_ratio_mean)],
    ["Embedding similarity (mean)", (s) => num(s.semantic_similarity_mean)],
  ];
  return (
    <>
      <p className={`verdict ${verdict.level === "ok" ? "ok" : "bad"}`} data-testid="audit-verdict">
        {verdict.level === "ok" ? "✓ " : "⚠ "}
        {verdict.text} {verdict.advice}
      </p>
    <table className="audit-table" data-testid="audit-table">
      <TableHead columns={["Measure", "Base", "Tuned"]} />
      <tbody>
        {rows.map(([label, f]) => (
          <tr key={label}>
            <th scope="row">{label}</th>
            <td>{f(report.base)}</td>
            <td>{f(report.tuned)}</td>
          </tr>
        ))}
      </tbody>
    </table>
    </>
  );
}
