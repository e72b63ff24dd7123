/**
 * The output file of a synthesis: JSON Lines of `{"messages": [...], "synth": {...}}`, appended to
 * and never rewritten. Each row is one write of a whole line followed by fsync, so a killed
 * synthesis leaves complete rows (at worst a torn last line, which the next run cuts off, the only
 * change it ever makes to existing bytes). Resuming reads the file: every row must carry the
 * `synth` provenance of the same method, model, run, seed and selection (anything else is refused,
 * naming the line), and the next candidate is the one after the highest index written.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, truncateSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { WhetstoneError } from "../util/errors";
import type { SynthMethod, SynthSelection } from "./schema";

/** The provenance every synthesized row carries in its `synth` field (ingestion does not train on it). */
export interface Provenance {
  method: SynthMethod;
  model: string;
  run: string | null;
  seed: number;
  index: number;
  temperature: number;
  response_temperature: number | null;
  /** fewshot: where the examples shown came from (file:line). */
  examples?: string[];
  /**
   * glan: what the instruction was drafted from: the subject (its line in the taxonomy, or the first
   * session's topic line), whether its sessions are its listed topics, a drafted syllabus (in the
   * `syllabus` file) or the subject alone, the one or two sessions and the key concepts drawn.
   */
  taxonomy?: { file: string; syllabus: string | null; line: number; discipline: string; subject: string; source: "topics" | "drafted" | "subject"; sessions: string[]; concepts: string[] };
  /** With 2+ responses (select.ts): what was written, by which judge, and every answer with its source and score. */
  selection?: SynthSelection;
  judge?: string;
  chosen?: number;
  rejected?: number;
  margin?: number;
  responses?: { j: number; source: string; temperature: number; score: number | null; text: string | null }[];
}

export interface ExistingRows {
  rows: number;
  nextIndex: number;
  prompts: string[];
  tornLineRemoved: boolean;
}

type Identity = Pick<Provenance, "method" | "model" | "run" | "seed" | "selection">;
const IDENTITY = ["method", "model", "run", "seed", "selection"] as const;
const FLAG: Record<(typeof IDENTITY)[number], string> = { method: "method", model: "model", run: "model", seed: "seed", selection: "select" };

export function readExisting(path: string, want: Identity): ExistingRows {
  const state: ExistingRows = { rows: 0, nextIndex: 0, prompts: [], tornLineRemoved: false };
  if (!existsSync(path)) return state;
  let text = readFileSync(path, "utf8");
  if (text.length > 0 && !text.endsWith("\n")) {
    const cut = text.lastIndexOf("\n") + 1;
    if (parses(text.slice(cut))) text += "\n"; // a complete row without its newline: keep it
    else {
      truncateSync(path, Buffer.byteLength(text.slice(0, cut)));
      text = text.slice(0, cut);
      state.tornLineRemoved = true;
    }
  }
  text.split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    const where = `${path}:${i + 1}`;
    type Turns = { role: string; content: string }[];
    const row = parses(line) as { messages?: Turns; prompt?: Turns; synth?: Partial<Provenance> } | null;
    const p = row?.synth;
    const turns = row?.messages ?? row?.prompt;
    if (!row || !p || typeof p.index !== "number" || !Array.isArray(turns)) {
      throw new WhetstoneError({
        code: "SYNTH_OUT_INVALID",
        message: `${where}: not a row written by \`whetstone synth\` (${row ? "no synth provenance" : "not JSON"}).`,
        hint: "Give --out a new file (or one a synthesis wrote); rows are only ever appended to it.",
        where,
      });
    }
    for (const key of IDENTITY) {
      if (p[key] !== want[key]) {
        const shown = (v: unknown) => (v === undefined ? "none (one answer per prompt)" : JSON.stringify(v));
        throw new WhetstoneError({
          code: "SYNTH_OUT_MISMATCH",
          message: `${where}: this file was synthesized with ${key} ${shown(p[key])}, not ${shown(want[key])}.`,
          hint: `Continue it with the same ${key} (${p[key] === undefined ? "one response per prompt" : `--${FLAG[key]} ${p[key]}`}), or write to a new file with --out.`,
          where,
        });
      }
    }
    state.rows++;
    state.nextIndex = Math.max(state.nextIndex, p.index + 1);
    const user = turns.find((m) => m.role === "user");
    if (user) state.prompts.push(user.content);
  });
  return state;
}

function parses(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return null;
  }
}

/** Appends whole rows, each made durable before the next. */
export class RowWriter {
  private readonly fd: number;

  constructor(path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.fd = openSync(path, "a");
  }

  append(row: unknown): void {
    writeSync(this.fd, JSON.stringify(row) + "\n");
    fsyncSync(this.fd);
  }

  close(): void {
    closeSync(this.fd);
  }
}
