/**
 * A rounds loop in words and tables: the CLI's summary and rounds/<id>/rounds.md — each round's
 * run (and DPO run), rows (and pairs), LC win rates against the base and the previous round with their 95% CIs, how it ended,
 * why the loop stopped and which round to use.
 */
import { roundModel, type Match, type Round, type RoundsStatus } from "./schema";

/** Win rates come in percent already (eval/stats). */
const rate = (x: number) => `${x.toFixed(1)}%`;

export function formatMatch(m: Match | null): string {
  return m === null ? "—" : `${rate(m.lc_win_rate)} (${rate(m.lc_low)}–${rate(m.lc_high)})`;
}

/** How a round ended, in words. */
export function roundEnded(r: Round, s: Pick<RoundsStatus, "best_round">): string {
  if (r.state === "done") return s.best_round === r.index ? "won; the best round" : r.reason ? "did not win" : "won";
  if (r.state === "failed") return `failed: ${r.reason ?? "see its run"}`;
  return r.state;
}

/** The rounds table as rows of cells (the CLI aligns them; the report writes them as markdown). */
export function roundRows(s: RoundsStatus): string[][] {
  const dpo = s.spec.dpo !== null;
  const head = ["round", dpo ? "run (SFT → DPO)" : "run", dpo ? "rows / pairs" : "rows", "LC vs base (95% CI)", "LC vs previous (95% CI)", "ended"];
  const rows = s.rounds.map((r) => [
    String(r.index),
    dpo && r.run_id ? `${r.run_id} → ${r.dpo_run_id ?? "—"}` : (r.run_id ?? "—"),
    (r.rows === null ? "—" : `${r.rows}${r.synth_complete === false ? " (short)" : ""}`) + (dpo ? ` / ${r.pair_rows ?? "—"}` : ""),
    formatMatch(r.vs_base),
    r.parent_run === null ? "(the base)" : formatMatch(r.vs_previous),
    roundEnded(r, s),
  ]);
  return [head, ...rows];
}

/** What the loop came to: why it stopped, the round to use, or the error. */
export function outcome(s: RoundsStatus): string[] {
  const lines: string[] = [];
  if (s.stopped) lines.push(`Stopped: ${s.stopped}.`);
  if (s.state === "completed") {
    const best = s.rounds.find((r) => r.index === s.best_round);
    lines.push(best ? `Best: round ${best.index} (${roundModel(best)}).` : "No round beat the model it started from: keep the base model.");
  }
  if (s.error) lines.push(`Failed: ${s.error.message} (${s.error.code}). ${s.error.hint}`);
  if (s.state === "cancelled" || s.state === "interrupted") lines.push(`The rounds were ${s.state} in round ${s.rounds.at(-1)?.index ?? 1}.`);
  return lines;
}

export function formatRounds(s: RoundsStatus): string {
  const spec = s.spec;
  const dpo = spec.dpo ? ` Each round's SFT run is followed by a DPO run on the judge's best-vs-worst answers (pairs within ${spec.dpo.min_margin} of each other left out), and that DPO run is the round's model.` : "";
  const rule = `${spec.stop_metric === "lc_win_rate" ? "LC win rate" : "LC win rate's CI low end"} against the previous round (round 1: ${s.start_run ? "the run it started from" : "the base"}) is above ${spec.stop_threshold}%`;
  const lines = [
    `# Rounds ${s.id}`,
    "",
    `Up to ${spec.rounds} rounds of ${s.config_path ?? "a config"}, ${s.start_run ? `starting from run ${s.start_run}, ` : ""}each synthesizing ${String(spec.synth.n ?? "?")} rows with ${String(spec.synth.method ?? "?")} from the current model; judged on ${s.prompts} (at most ${spec.limit} prompts). Goes on while the ${rule}.${dpo} State: ${s.state}.`,
    "",
  ];
  const [head, ...rows] = roundRows(s);
  lines.push(`| ${head!.join(" | ")} |`, `|${head!.map(() => "---").join("|")}|`);
  for (const r of rows) lines.push(`| ${r.join(" | ")} |`);
  lines.push("", ...outcome(s));
  return lines.join("\n");
}
