/**
 * A round's preference pairs, for its DPO run (the rounds block's dpo option): read from the round's
 * synthesized file, not generated again. With 2+ answers per prompt the synthesis already had the
 * judge score every answer (engine/synth/select.ts) and stored each one's text and score in the row's
 * `synth.responses`; the pair is the best against the worst by those scores, chosen exactly as
 * `synth --select pairs` chooses (select.ts `pick`, the same margin rule), so the chosen answer is the
 * one the round's SFT run trained on. The trade-off: the pairs are the previous model's answers, not
 * the SFT run's own (on-policy pairs would cost a second synthesis and judging per round).
 *
 * The file is written whole, atomically, and depends on the round's data and the margin only, so a
 * loop killed while writing it, or before its DPO run was created, writes the same file again.
 */
import { readFileSync } from "node:fs";
import type { Provenance } from "../synth/output";
import { pick } from "../synth/select";
import { writeFileAtomic } from "../util/atomic";
import { WhetstoneError } from "../util/errors";

type Turn = { role: string; content: string };

export interface PairsResult {
  /** Pairs written. */
  rows: number;
  /** Rows of the round's data whose best and worst answers scored within the margin (or read the same). */
  below_margin: number;
  /** Rows with fewer than two judged answers (none were judged: the synthesis gave one answer). */
  unjudged: number;
}

/** Write the pairs of `data` (a round's synthesized file) to `out`; says how many and why the others were left out. */
export function writeRoundPairs(data: string, out: string, minMargin: number): PairsResult {
  const result: PairsResult = { rows: 0, below_margin: 0, unjudged: 0 };
  const lines: string[] = [];
  readFileSync(data, "utf8").split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    let row: { messages?: Turn[]; synth?: Partial<Provenance> };
    try {
      row = JSON.parse(line) as typeof row;
    } catch {
      throw new WhetstoneError({ code: "ROUNDS_DATA_INVALID", message: `${data}:${i + 1}: not a JSON row; the round's data was changed or damaged after its synthesis wrote it.`, hint: "Restore the file, or start new rounds.", where: `${data}:${i + 1}` });
    }
    const judged = (row.synth?.responses ?? []).filter((r) => r.score !== null && r.text !== null).sort((a, b) => a.j - b.j);
    const messages = row.messages ?? [];
    if (judged.length < 2 || messages.at(-1)?.role !== "assistant") return void result.unjudged++;
    const answers = judged.map((r) => ({ j: r.j, text: r.text! }));
    const { best, worst, margin } = pick(answers, judged.map((r) => r.score!));
    const text = (j: number) => answers.find((a) => a.j === j)!.text;
    if (margin < minMargin || text(best) === text(worst)) return void result.below_margin++;
    const synth = { ...row.synth, selection: "pairs", chosen: best, rejected: worst, margin, source_line: i + 1 };
    lines.push(JSON.stringify({ prompt: messages.slice(0, -1), chosen: [{ role: "assistant", content: text(best) }], rejected: [{ role: "assistant", content: text(worst) }], synth }));
    result.rows++;
  });
  writeFileAtomic(out, lines.length ? lines.join("\n") + "\n" : "");
  return result;
}
