/**
 * Engine answers as the app says them: an error's title and fix from the wording table, the
 * engine's message with config keys named as the Settings step labels them and the stored copy of
 * a dataset named by the user's own file name; and the data step's verdict line.
 */
import type { DatasetReport } from "../../../engine/api/public";
import { ERROR_WORDING, type Wording } from "./error-wording";
import { fieldLabel } from "./draft";

export interface ShownError {
  code: string;
  title: string;
  message: string;
  fix: string;
}

export function wordingFor(code: string): Wording {
  return ERROR_WORDING[code] ?? (code.startsWith("HTTP_") ? ERROR_WORDING.API_BAD_REQUEST! : ERROR_WORDING.ERROR!);
}

/** `files`: stored path → the name the user knows it by. */
export function describeError(e: { code: string; message: string }, files: Record<string, string> = {}): ShownError {
  const wording = wordingFor(e.code);
  return { code: e.code, title: wording.title, message: forPeople(e.message, files), fix: wording.fix };
}

/** Config keys as labels ("training.learning_rate" → "Learning rate"), stored dataset paths as the user's file names. */
export function forPeople(text: string, files: Record<string, string> = {}): string {
  let out = text;
  for (const [stored, name] of Object.entries(files)) {
    const base = stored.split(/[\\/]/).pop()!;
    out = out.split(stored).join(name).split(base).join(name);
  }
  return out.replace(/\b((?:model|data|lora|training|preference)\.[a-z_]+(?:\.[a-z_]+)?)\b/g, (m, path: string) => {
    const label = fieldLabel(path);
    return label === path ? m : `“${label}”`;
  });
}

const plural = (n: number, what: string) => `${n.toLocaleString("en-US")} ${what}${n === 1 ? "" : "s"}`;

/** The data step's one-line verdict, in the app's words (the engine's is the CLI's). */
export function dataVerdict(r: Pick<DatasetReport, "trainable" | "errors" | "warnings" | "stats" | "kind" | "skip_invalid">): string {
  const unit = r.kind === "preference" ? "pair" : "sample";
  const warnings = r.warnings ? `, ${plural(r.warnings, "warning")}` : "";
  const tokens = r.stats.tokens ? ` (${r.stats.tokens.tokens_per_epoch.toLocaleString("en-US")} tokens per epoch)` : "";
  if (r.trainable && r.stats.invalid_rows === 0) return `Ready to train: ${plural(r.stats.samples, unit)}${tokens}${warnings}.`;
  if (r.trainable) return `Ready to train on ${plural(r.stats.samples, unit)}${tokens}; ${plural(r.stats.invalid_rows, "invalid row")} will be skipped${warnings}.`;
  if (r.stats.samples > 0 && r.stats.invalid_rows > 0 && !r.skip_invalid)
    return `Not trainable yet: ${plural(r.errors, "error")} in ${plural(r.stats.invalid_rows, "row")}. Fix them, or skip them below and train on the other ${plural(r.stats.samples, unit)}${warnings}.`;
  return `Not trainable: ${plural(r.errors, "error")}${warnings}.`;
}

/**
 * A dataset path as the user knows it: an uploaded copy (`<home>/datasets/<sha12>-<name>`, see
 * engine/datasets-upload) by the name it was uploaded with, any other file by its own name.
 */
export function datasetName(path: string): string {
  const base = path.split(/[\\/]/).pop() ?? path;
  const parent = path.split(/[\\/]/).slice(-2, -1)[0];
  return parent === "datasets" ? base.replace(/^[0-9a-f]{12}-/, "") : base;
}
