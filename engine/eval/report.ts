/** The readable summaries of evaluation and comparison reports (printed by the CLI, stored as .md). */
import type { CompareReport, EvalReport } from "./schema";

const pct = (x: number) => `${x.toFixed(1)}%`;
const ci = (c: { low: number; high: number }) => `[${c.low.toFixed(1)}, ${c.high.toFixed(1)}]`;
const cell = (t: string, n = 60) => {
  const one = t.replace(/\s+/g, " ").trim().replace(/\|/g, "\\|");
  return one.length > n ? `${one.slice(0, n - 1)}…` : one;
};

type Summary = EvalReport["summary"] & { avg_tokens_model?: number; avg_tokens_baseline?: number; verdict_mass_mean?: number; instruction_term?: string };

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

export function formatEval(report: EvalReport): string {
  const r = report as EvalReport & { prompts?: { source: string; used: number; available: number }; judge?: { name?: string; kind?: string }; generation?: Record<string, unknown>; against?: string };
  const s = r.summary as Summary;
  const lines = [
    `# Evaluation of ${r.model.label} against ${r.baseline.label}`,
    "",
    ...summaryLines(s, "model", "baseline"),
    "",
    `Model: ${r.model.label}. Baseline: ${r.baseline.label}.`,
    `Prompts: ${r.prompts ? `${r.prompts.used} of ${r.prompts.available} from ${r.prompts.source}` : s.n}.`,
    `Judge: ${r.judge?.name ?? "?"} (${r.judge?.kind ?? "?"}), every pair in both orders; the verdict is read from the next-token probabilities of "1", "2" and "Tie"${s.verdict_mass_mean !== undefined ? ` (mean probability on those tokens: ${s.verdict_mass_mean.toFixed(3)})` : ""}.`,
    `Generation: ${Object.entries(r.generation ?? {}).map(([k, v]) => `${k} ${String(v)}`).join(", ")}.`,
    "",
    `The length-controlled win rate fits the judge's preferences with a model term, a term on the tanh-scaled, standardized length difference and an instruction term (${s.instruction_term ?? "none"}), then predicts with the length term set to zero: it is the win rate the judge would give if both answers had the same length. A raw rate well above the LC rate means longer answers are winning.`,
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
    "| model | against | win rate [95% CI] | LC win rate [95% CI] | length model / baseline |",
    "|---|---|---|---|---|",
    ...report.matches.map((m) => `| ${m.model} | ${m.baseline} | ${pct(m.summary.win_rate)} ${ci(m.summary.win_rate_ci)} | ${pct(m.summary.lc_win_rate)} ${ci(m.summary.lc_win_rate_ci)} | ${m.summary.avg_length_model.toFixed(0)} / ${m.summary.avg_length_baseline.toFixed(0)} |`),
    "",
    `Best run: ${report.best ?? "none"}. Strengths are Bradley–Terry scores (they sum to 1) fitted to the judge's soft wins over every match above.`,
  ];
  return lines.join("\n");
}
