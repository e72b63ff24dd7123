/**
 * A sweep in the app's words. The grid builder offers the settings people sweep, each mapped to the
 * config field the engine's grid takes by its dotted name; values are typed as a comma-separated
 * list and checked as typed against the engine's own config schema (each value written into the
 * wizard's config, as the engine writes it into each trial's), so the builder refuses what
 * `startSweep` would refuse, without a round trip. Trials' settings and ends read as sentences.
 */
import { RunConfigSchema, applySettings, type SettingValue, type Trial } from "../../../engine/api/public";
import { PREFERENCE_SETTINGS, draftToConfig, fieldLabel, goldfishApplies, type Draft } from "./draft";
import { forPeople } from "./messages";

export interface SweepSetting {
  /** The config field by its dotted name, as the engine's grid takes it. */
  field: string;
  label: string;
  /** number: each value a number (range and whole numbers are the schema's to check); choice: one of `choices`. */
  kind: "number" | "choice";
  choices?: readonly string[];
  example: string;
  help: string;
  /** Offered only where the draft uses it (LoRA's settings with LoRA, goldfish with an SFT term, β with a preference method). */
  applies?: (d: Draft) => boolean;
}

const lora = (d: Draft) => d.finetune !== "full";

export const SWEEP_SETTINGS: readonly SweepSetting[] = [
  { field: "training.learning_rate", label: "Learning rate", kind: "number", example: "1e-4, 2e-4, 5e-4", help: "The setting that matters most: try a few around the suggested one." },
  { field: "lora.r", label: "LoRA rank", kind: "number", example: "8, 16, 32", help: "Adapter size.", applies: lora },
  { field: "lora.alpha", label: "LoRA alpha", kind: "number", example: "16, 32", help: "Scales the adapter's update (alpha / rank).", applies: lora },
  { field: "training.epochs", label: "Epochs", kind: "number", example: "1, 2, 3", help: "Passes over the data." },
  { field: "training.neftune_alpha", label: "NEFTune noise", kind: "number", example: "0, 5, 10", help: "Noise on the embeddings while training; 0 is off." },
  { field: "training.goldfish.k", label: "Goldfish: drop one token in", kind: "number", example: "4, 8", help: "Drops one token in k from the loss so the model cannot recite its data.", applies: (d) => goldfishApplies(d.method) },
  { field: "data.max_length", label: "Max length", kind: "number", example: "512, 1024", help: "Longest sample in tokens; longer ones are dropped." },
  { field: "training.warmup_ratio", label: "Warmup ratio", kind: "number", example: "0, 0.03, 0.1", help: "Share of the steps spent raising the learning rate." },
  { field: "training.gradient_accumulation", label: "Gradient accumulation", kind: "number", example: "1, 4", help: "Micro-batches per step: a larger effective batch." },
  { field: "training.scheduler", label: "Schedule", kind: "choice", choices: ["cosine", "linear", "wsd", "constant"], example: "cosine, constant", help: "How the learning rate changes over the run." },
  { field: "preference.beta", label: "β (beta)", kind: "number", example: "0.05, 0.1, 0.2", help: "How far the model may move from where it started.", applies: (d) => (PREFERENCE_SETTINGS[d.method] ?? []).includes("beta") },
  { field: "training.seed", label: "Seed", kind: "number", example: "1, 2, 3", help: "The same settings with other seeds: how much of a difference is luck." },
];

export const settingFor = (field: string) => SWEEP_SETTINGS.find((s) => s.field === field);
/** The settings this draft can sweep. */
export const settingsFor = (d: Draft) => SWEEP_SETTINGS.filter((s) => !s.applies || s.applies(d));
export const settingLabel = (field: string) => settingFor(field)?.label ?? fieldLabel(field);

/** A value as the app shows it: 0.003, 1e-7, on/off. */
export function valueText(v: SettingValue): string {
  if (typeof v === "number") return String(Number(v.toPrecision(4)));
  if (typeof v === "boolean") return v ? "on" : "off";
  return v === null ? "none" : v;
}

/** "Learning rate 0.003, LoRA rank 8". */
export function settingsInWords(settings: Record<string, SettingValue>): string {
  const entries = Object.entries(settings);
  return entries.length === 0 ? "the settings as they are" : entries.map(([k, v]) => `${settingLabel(k)} ${valueText(v)}`).join(", ");
}

/** A trial's state as its badge says it, and why it ended so (stopped, failed, skipped), config keys named as the app names them. */
export function trialState(t: Trial): { label: string; reason: string | null } {
  const label = t.state === "stopped" ? "stopped early" : (t.state as string) === "paused" ? "paused" : t.state;
  const why = (t.state as string) === "paused" ? "trained its first steps; waits until the other trials have too" : t.reason;
  return { label, reason: why && !["pending", "running", "completed"].includes(t.state) ? forPeople(why) : null };
}

export interface GridRow {
  field: string;
  text: string;
}

export interface RowCheck {
  values: SettingValue[];
  problems: string[];
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** One row: its values parsed, and what is wrong with them (each named by what was typed). */
export function checkRow(row: GridRow, d: Draft): RowCheck {
  const setting = settingFor(row.field);
  if (!setting) return { values: [], problems: ["Choose a setting."] };
  // Empty pieces ("0.1, , 0.2", a trailing comma while typing) are ignored, not refused.
  const pieces = row.text.split(",").map((p) => p.trim()).filter(Boolean);
  if (pieces.length === 0) return { values: [], problems: [`Type the values of ${setting.label.toLowerCase()} to try, separated by commas (e.g. ${setting.example}).`] };
  const problems: string[] = [];
  const values: SettingValue[] = [];
  const seen = new Set<string>();
  const config = draftToConfig(d);
  for (const piece of pieces) {
    let value: SettingValue;
    if (setting.kind === "number") {
      if (!NUMBER.test(piece)) {
        problems.push(`“${piece}” is not a number.`);
        continue;
      }
      value = Number(piece);
    } else {
      if (!setting.choices!.includes(piece)) {
        problems.push(`“${piece}” is not one of ${setting.choices!.join(", ")}.`);
        continue;
      }
      value = piece;
    }
    const key = JSON.stringify(value);
    if (seen.has(key)) {
      problems.push(`“${piece}” is listed twice.`);
      continue;
    }
    seen.add(key);
    const issue = schemaIssue(config, row.field, value);
    if (issue) problems.push(`“${piece}”: must be ${issue}.`);
    else values.push(value);
  }
  return { values, problems };
}

/** What the config schema says of `value` at `field`, in words ("at most 1", "a whole number"), or null. */
function schemaIssue(config: Record<string, unknown>, field: string, value: SettingValue): string | null {
  const r = RunConfigSchema.safeParse(applySettings(config, { [field]: value }));
  if (r.success) return null;
  const issue = r.error.issues.find((i) => i.path.join(".") === field);
  if (!issue) return null; // another part of the draft (a dataset not chosen yet) is not this row's fault
  const i = issue as typeof issue & { maximum?: number; minimum?: number; inclusive?: boolean; expected?: string; values?: unknown[] };
  if (i.code === "too_big") return i.inclusive ? `at most ${i.maximum}` : `below ${i.maximum}`;
  if (i.code === "too_small") return i.inclusive ? `at least ${i.minimum}` : `above ${i.minimum}`;
  if (i.code === "invalid_type" && i.expected === "int") return "a whole number";
  if (i.code === "invalid_value" && i.values) return `one of ${i.values.join(", ")}`;
  return forPeople(i.message);
}

export interface GridCheck {
  rows: RowCheck[];
  /** The spec's grid: each row's setting with its valid values. */
  grid: Record<string, SettingValue[]>;
  /** Every combination is a trial. */
  trials: number;
  ok: boolean;
}

export function checkGrid(rows: GridRow[], d: Draft): GridCheck {
  const checks = rows.map((r) => checkRow(r, d));
  const seen = new Set<string>();
  rows.forEach((r, i) => {
    if (seen.has(r.field)) checks[i]!.problems.unshift(`${settingLabel(r.field)} has a row above already.`);
    seen.add(r.field);
  });
  const grid = Object.fromEntries(rows.map((r, i) => [r.field, checks[i]!.values]));
  const trials = rows.length === 0 ? 0 : checks.reduce((n, c) => n * c.values.length, 1);
  return { rows: checks, grid, trials, ok: trials > 0 && checks.every((c) => c.problems.length === 0) };
}

/** A first row to edit: the draft's learning rate, half and double. */
export function firstRow(d: Draft): GridRow {
  const lr = d.learningRate;
  return { field: "training.learning_rate", text: [lr / 2, lr, lr * 2].map((v) => valueText(v)).join(", ") };
}
