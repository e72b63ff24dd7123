/**
 * The judge: a run's answers against its base model's on held-out prompts, win rate and
 * length-controlled win rate with bootstrap confidence intervals, answer lengths, and the answers
 * side by side with each verdict, and how far the judge can be trusted (JudgeTrust.tsx).
 */
import { useEffect } from "react";
import { JudgeFields, useJudgeChoice } from "./JudgeFields";
import { useAppStore } from "../store/store";
import { useClient } from "../client/context";
import { useTask } from "../client/use-task";
import { ErrorBox } from "../components/ErrorBox";
import { ProgressBar } from "../components/ProgressBar";
import { num } from "../lib/format";
import type { EvalReport } from "../../../engine/api/public";
import { TableHead } from "../components/TableHead";
import { JudgeTrust } from "./JudgeTrust";
import { needsCompletedRun } from "../lib/run-gates";

export function JudgePanel({ runId }: { runId: string }) {
  const client = useClient();
  const report = useAppStore((s) => s.evals[runId]);
  const progress = useAppStore((s) => s.progress[runId]);
  const state = useAppStore((s) => s.runs[runId]?.state);
  const [choice, setChoice] = useJudgeChoice();
  const { busy, error, run: track } = useTask(`eval:${runId}`);
  const gate = needsCompletedRun(state, "Evaluation");

  useEffect(() => {
    client.getEval({ id: runId }).then((r) => useAppStore.getState().setEval(runId, r), () => undefined);
  }, [client, runId]);

  const run = () => track(async () => useAppStore.getState().setEval(runId, await client.evalRun({ id: runId, limit: choice.limit, maxNewTokens: choice.answerTokens, judge: choice.judge.trim() || null, prompts: choice.prompts.trim() || null })));
  return (
    <section aria-label="Judge evaluation" className="judge">
      <h3>Judge: tuned vs base</h3>
      <JudgeFields id="eval" value={choice} onChange={setChoice} promptsDefault="the run's held-out split">
        <button type="button" className="primary" onClick={run} disabled={busy || gate !== null} aria-describedby={gate ? "judge-gate" : undefined}>
          {busy ? "Judging…" : report ? "Evaluate again" : "Evaluate"}
        </button>
        {busy && (
          <button type="button" className="danger" onClick={() => client.cancelTask({ id: runId, kind: "eval" })}>
            Cancel
          </button>
        )}
        {gate && !busy && (
          <span id="judge-gate" className="muted small">
            {gate}
          </span>
        )}
      </JudgeFields>
      {busy && <ProgressBar progress={progress} label="Evaluation progress" />}
      <ErrorBox error={error} />
      {report && <EvalSummary report={report} />}
    </section>
  );
}

/** The judge reports rates in percent (0–100). */
const pct = (v: number) => `${v.toFixed(1)}%`;
const ci = (c: { low: number; high: number }) => `${pct(c.low)} – ${pct(c.high)}`;

export function EvalSummary({ report }: { report: EvalReport }) {
  const s = report.summary;
  const rows = report.per_prompt as (EvalReport["per_prompt"][number] & { instruction?: string; model?: string; baseline?: string })[];
  return (
    <div data-testid="eval-summary">
      <div className="stats">
        <div className="stat">
          <span>{pct(s.win_rate)}</span>
          <small>Win rate (95% CI {ci(s.win_rate_ci)})</small>
        </div>
        <div className="stat">
          <span>{pct(s.lc_win_rate)}</span>
          <small>Length-controlled (95% CI {ci(s.lc_win_rate_ci)})</small>
        </div>
        <div className="stat">
          <span>
            {s.wins} / {s.ties} / {s.losses}
          </span>
          <small>Wins / ties / losses of {s.n}</small>
        </div>
        <div className="stat">
          <span>
            {num(s.avg_length_model)} / {num(s.avg_length_baseline)}
          </span>
          <small>Answer length, tuned / base (chars)</small>
        </div>
      </div>
      <JudgeTrust trust={s.judge_trust} />
      <details>
        <summary>Answers side by side ({rows.length})</summary>
        <table className="answers">
          <TableHead columns={["Prompt", report.model.label, report.baseline.label, "Verdict"]} />
          <tbody>
            {rows.slice(0, 100).map((r) => (
              <tr key={r.index}>
                <td>{r.instruction ?? `#${r.index}`}</td>
                <td>{r.model ?? ""}</td>
                <td>{r.baseline ?? ""}</td>
                <td className={r.verdict === "win" ? "fit" : r.verdict === "loss" ? "no-fit" : undefined}>{r.verdict}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </div>
  );
}
