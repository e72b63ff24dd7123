/** The readable summaries of evaluation and comparison reports (printed by the CLI, stored as .md). */
import type { JudgeTrust } from "../judge/trust";
import type { CompareReport, EvalReport } from "./schema";

/** How the LC rate was computed, stored in every summary (design and figures: lc.ts, README "Evaluation"). */
export const LC_METHOD =
  "logistic fit of the judge's preferences on a model term and the tanh-scaled, standardized length difference, with a prior on the length slope estimated from AlpacaEval 2.0's public judgments; LC = the fitted rate at equal lengths";

const pct = (x: number) => `${x.toFixed(1)}%`;
const ci = (c: { low: number; high: number }) => `[${c.low.toFixed(1)}, ${c.high.toFixed(1)}]`;
const cell = (t: string, n = 60) => {
  const one = t.replace(/\s+/g, " ").trim().replace(/\|/g, "\\|");
  return one.length > n ? `${one.slice(0, n - 1)}…` : one;
};

type Summary = EvalReport["summary"] & { avg_tokens_model?: number; avg_tokens_baseline?: number; verdict_mass_mean?: number; judge_trust?: JudgeTrust };

function summaryLines(s: Summary, model: string, baseline: string): string[] {
  return [
    `| | ${model} | ${baseline} |`,
    "|---|---|---|",
    `| win rate (ties half), 95% CI | **${pct(s.win_rate)}** ${ci(s.win_rate_ci)} | ${pct(100 - s.win_rate)} |`,
    `| length-controlled win rate, 95% CI | **${pct(s.lc_win_rate)}** ${ci(s.lc_win_rate_ci)} | ${pct(100 - s.lc_win_rate)} |`,
    `| wins / ties / losses | ${s.wins} / ${s.ties} / ${s.losses} | ${s.losses} / ${s.ties} / ${s.wins} |`,
    `| average answer length (characters) | ${s.avg_length_model.toFixed(0)} | ${s.avg_length_baseline.toFixed(0)} |`,
    ...(s.avg_tokens_model !== undefined ? [`| average answer length (tokens) | ${s.avg_tokens_model.toFixed(1)} | ${s.avg_tokens_baseline!.toFixed(1)} |`] : []),
  ];
}

const share = (x: number) => (Number.isFinite(x) ? `${Math.round(100 * x)}%` : "n/a");

/** The judge-trust lines of a report: figures, then the warning when the judge is guessing. */
export function trustLines(t: JudgeTrust | undefined): string[] {
  if (!t) return [];
  return [
    `Judge trust: position consistency ${share(t.position_consistency)} (verdict unchanged when the answers swap places), ties ${share(t.tie_share)}, mean confidence ${Number.isFinite(t.mean_confidence) ? t.mean_confidence.toFixed(2) : "n/a"} (1/3: no preference, 1: certain), over ${t.n} prompts.`,
    ...(t.warning ? ["", `> **Warning:** ${t.warning}`] : []),
  ];
}

export function formatEval(report: EvalReport): string {
  const r = report as EvalReport & { prompts?: { source: string; used: number; available: number }; judge?: { name?: string; kind?: string }; generation?: Record<string, unknown>; against?: string };
  const s = r.summary as Summary;
  const lines = [
    `# Evaluation of ${r.model.label} against ${r.baseline.label}`,
    "",
    ...summaryLines(s, "model", "baseline"),
    "",
    ...trustLines(s.judge_trust),
    "",
    `Model: ${r.model.label}. Baseline: ${r.baseline.label}.`,
    `Prompts: ${r.prompts ? `${r.prompts.used} of ${r.prompts.available} from ${r.prompts.source}` : s.n}.`,
    `Judge: ${r.judge?.name ?? "?"} (${r.judge?.kind ?? "?"}), every pair in both orders; the verdict is read from the next-token probabilities of "1", "2" and "Tie"${s.verdict_mass_mean !== undefined ? ` (mean probability on those tokens: ${s.verdict_mass_mean.toFixed(3)})` : ""}.`,
    `Generation: ${Object.entries(r.generation ?? {}).map(([k, v]) => `${k} ${String(v)}`).join(", ")}.`,
    "",
    "The length-controlled win rate fits the judge's preferences with a model term and a term on the tanh-scaled, standardized length difference (its slope held near the length bias measured on AlpacaEval 2.0's public judgments), then predicts with the length term set to zero: it is the win rate the judge would give if both answers had the same length. A raw rate well above the LC rate means longer answers are winning.",
    "",
    "## Per prompt",
    "",
    "| # | instruction | model | baseline | P(win) | P(tie) | P(loss) | verdict |",
    "|---|---|---|---|---|---|---|---|",
    ...r.per_prompt.map((p) => {
      const q = p as typeof p & { instruction: string; model: string; baseline: string; win: number; tie: number; loss: number };
      return `| ${q.index} | ${cell(q.instruction, 40)} | ${cell(q.model)} | ${cell(q.baseline)} | ${q.win.toFixed(2)} | ${q.tie.toFixed(2)} | ${q.loss.toFixed(2)} | ${q.verdict} |`;
    }),
  ];
  return lines.join("\n");
}

export function formatCompare(report: CompareReport): string {
  const lines = [
    `# Comparison of ${report.runs.length} runs`,
    "",
    "| rank | model | Bradley–Terry strength | |",
    "|---|---|---|---|",
    ...report.ranking.map((r) => `| ${r.rank} | ${r.label} | ${r.strength.toFixed(3)} | ${r.run_id === report.best ? "**best**" : ""} |`),
    "",
    "| model | against | win rate [95% CI] | LC win rate [95% CI] | length model / baseline | judge consistency / ties / confidence |",
    "|---|---|---|---|---|---|",
    ...report.matches.map((m) => {
      const t = (m.summary as Summary).judge_trust;
      const trust = t ? `${share(t.position_consistency)} / ${share(t.tie_share)} / ${t.mean_confidence.toFixed(2)}` : "n/a";
      return `| ${m.model} | ${m.baseline} | ${pct(m.summary.win_rate)} ${ci(m.summary.win_rate_ci)} | ${pct(m.summary.lc_win_rate)} ${ci(m.summary.lc_win_rate_ci)} | ${m.summary.avg_length_model.toFixed(0)} / ${m.summary.avg_length_baseline.toFixed(0)} | ${trust} |`;
    }),
    "",
    ...compareWarning(report),
    `Best run: ${report.best ?? "none"}. Strengths are Bradley–Terry scores (they sum to 1) fitted to the judge's soft wins over every match above.`,
  ];
  return lines.join("\n");
}

/** One warning for a comparison when any match's judge consistency is below the threshold. */
function compareWarning(report: CompareReport): string[] {
  const low = report.matches.filter((m) => (m.summary as Summary).judge_trust?.warning);
  if (!low.length) return [];
  const worst = low.map((m) => (m.summary as Summary).judge_trust!).sort((a, b) => a.position_consistency - b.position_consistency)[0]!;
  return [`> **Warning** (${low.length} of ${report.matches.length} matches): ${worst.warning}`, ""];
}
