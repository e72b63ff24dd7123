/**
 * A sweep in words and tables: the CLI's summary and sweeps/<id>/sweep.md — each trial's settings,
 * how it ended and why, its losses, the judge's ranking with LC win rates and their intervals, the
 * pick, and what early stopping saved.
 */
import { describeSettings } from "./grid";
import type { SweepStatus, Trial } from "./schema";

const num = (x: number | null | undefined, digits = 4) => (typeof x === "number" && Number.isFinite(x) ? x.toFixed(digits) : "—");
/** A share (0..1) as a percentage. */
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
/** Win rates come in percent already (eval/stats). */
const rate = (x: number) => `${x.toFixed(1)}%`;

/** How a trial ended, in words: "completed", "stopped early: its mean gradient norm …", "failed: …". */
export function ended(t: Trial): string {
  const state = t.state === "stopped" ? "stopped early" : t.state;
  return t.reason ? `${state}: ${t.reason}` : state;
}

export function formatSweep(s: SweepStatus): string {
  const trained = s.side_by_side ? ` Trials trained ${s.side_by_side.text}.` : "";
  const lines = [`# Sweep ${s.id}`, "", `${s.trials.length} trials of ${s.config_path ?? "a config"}; state: ${s.state}; early stop: ${s.spec.early_stop}.${trained}`, ""];
  lines.push("| trial | settings | run | ended | steps | final loss | val loss |", "|---|---|---|---|---|---|---|");
  for (const t of s.trials) {
    const best = s.selection?.best_trial === t.index ? " **best**" : "";
    lines.push(`| ${t.index}${best} | ${describeSettings(t.settings)} | ${t.run_id ?? "—"} | ${ended(t)} | ${t.steps ?? "—"}/${t.total_steps ?? "—"} | ${num(t.final_loss)} | ${num(t.val_loss)} |`);
  }
  const saved = s.trials.reduce((a, t) => a + t.saved_steps, 0);
  const planned = s.trials.reduce((a, t) => a + (t.total_steps ?? 0), 0);
  const stopped = s.trials.filter((t) => t.state === "stopped").length;
  lines.push("", `Early stopping stopped ${stopped} of ${s.trials.length} trials and saved ${saved} of ${planned} planned steps${planned ? ` (${pct(saved / planned)})` : ""}.`);
  const sel = s.selection;
  if (sel) {
    lines.push("", "## The judge's pick", "");
    if (sel.note) lines.push(sel.note, "");
    if (sel.best_run) lines.push(`Best: trial ${sel.best_trial} (${sel.best_run}).`, "");
    if (sel.ranking.length) {
      lines.push("| rank | model | strength |", "|---|---|---|");
      for (const r of sel.ranking) lines.push(`| ${r.rank} | ${r.label} | ${r.strength.toFixed(3)} |`);
      lines.push("", "| model | against | n | win rate | LC win rate (95% CI) |", "|---|---|---|---|---|");
      for (const m of sel.matches) lines.push(`| ${m.model} | ${m.baseline} | ${m.n} | ${rate(m.win_rate)} | ${rate(m.lc_win_rate)} (${rate(m.lc_low)}–${rate(m.lc_high)}) |`);
    }
  }
  if (s.error) lines.push("", `Failed: ${s.error.message} (${s.error.code}). ${s.error.hint}`);
  return lines.join("\n");
}
