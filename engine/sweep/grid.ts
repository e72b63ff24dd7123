/**
 * A sweep's trials: the grid's combinations (all, or N drawn at random with a seed), each applied to
 * the base config by its fields' dotted names. The names are checked against the config schema before
 * anything trains, and every trial's config is validated then too, so a bad value is named with its
 * field at once, not after the first trials have trained.
 */
import { RunConfigSchema, objectShape } from "../config/schema";
import { rng } from "../eval/stats";
import { WhetstoneError } from "../util/errors";
import { closest } from "../util/text";
import type { SettingValue, SweepSpec } from "./schema";

/** Every field of the config schema by its dotted name (leaves only: what a grid can set). */
export function configFields(schema: unknown = RunConfigSchema, prefix = ""): string[] {
  const shape = objectShape(schema);
  if (!shape) return [];
  return Object.entries(shape).flatMap(([key, child]) => {
    const name = prefix ? `${prefix}.${key}` : key;
    const inner = objectShape(child);
    return inner ? configFields(child, name) : [name];
  });
}

/** A value as typed on the command line: a number, true/false, null, else the text itself. */
export function parseSettingValue(text: string): SettingValue {
  const t = text.trim();
  if (t === "true" || t === "false") return t === "true";
  if (t === "null") return null;
  if (/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(t)) return Number(t);
  return t;
}

/** One `--grid FIELD=V1,V2,…` flag. */
export function parseGridFlag(flag: string): [string, SettingValue[]] {
  const eq = flag.indexOf("=");
  const field = eq > 0 ? flag.slice(0, eq).trim() : "";
  const values = eq > 0 ? flag.slice(eq + 1).split(",").map((v) => v.trim()) : [];
  if (!field || values.length === 0 || values.some((v) => v === "")) {
    throw new WhetstoneError({
      code: "SWEEP_GRID_INVALID",
      message: `--grid ${JSON.stringify(flag)}: expected FIELD=VALUE,VALUE,… (a config field by its dotted name and the values to try, no empty value).`,
      hint: "e.g. --grid training.learning_rate=5e-5,1e-4,2e-4 --grid lora.r=8,16",
    });
  }
  return [field, values.map(parseSettingValue)];
}

/** Refuse grid fields that are not config fields (with the closest one), or that a sweep sets itself. */
export function checkGridFields(grid: Record<string, SettingValue[]>): void {
  const fields = configFields();
  for (const [field, values] of Object.entries(grid)) {
    if (field === "name") {
      throw new WhetstoneError({ code: "SWEEP_GRID_INVALID", message: "The sweep names its trials itself (the config's name and the trial number): name cannot be a grid field.", hint: "Remove name from the grid." });
    }
    if (!fields.includes(field)) {
      const near = closest(field, fields, 4);
      throw new WhetstoneError({
        code: "SWEEP_GRID_INVALID",
        message: `sweep grid: ${field} is not a config field${near ? `; did you mean ${near}?` : "."}`,
        hint: "Name fields by their section and key, e.g. training.learning_rate or lora.r (`whetstone config` lists them all).",
      });
    }
    if (new Set(values.map((v) => JSON.stringify(v))).size !== values.length) {
      throw new WhetstoneError({ code: "SWEEP_GRID_INVALID", message: `sweep grid: ${field} lists a value twice (${values.map((v) => JSON.stringify(v)).join(", ")}).`, hint: "List each value once." });
    }
  }
}

/** The trials' settings: every combination of the grid (first field slowest), or `random` of them drawn with `seed`. */
export function expandGrid(grid: Record<string, SettingValue[]>, random: number | null, seed: number): Record<string, SettingValue>[] {
  let all: Record<string, SettingValue>[] = [{}];
  for (const [field, values] of Object.entries(grid)) all = all.flatMap((point) => values.map((v) => ({ ...point, [field]: v })));
  if (random === null || random >= all.length) return all;
  const next = rng(seed);
  const picked = [...all.keys()];
  for (let i = picked.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [picked[i], picked[j]] = [picked[j]!, picked[i]!];
  }
  return picked.slice(0, random).sort((a, b) => a - b).map((i) => all[i]!);
}

/** `raw` with each setting written at its dotted field (sections created as needed); `raw` is not modified. */
export function applySettings(raw: Record<string, unknown>, settings: Record<string, SettingValue>): Record<string, unknown> {
  const out = structuredClone(raw);
  for (const [field, value] of Object.entries(settings)) {
    const keys = field.split(".");
    let at: Record<string, unknown> = out;
    for (const key of keys.slice(0, -1)) {
      const child = at[key];
      at = at[key] = child !== null && typeof child === "object" && !Array.isArray(child) ? (child as Record<string, unknown>) : {};
    }
    at[keys[keys.length - 1]!] = value;
  }
  return out;
}

/**
 * A trial's raw config: the base with its settings, its name, and the step budget; `extra`: what the
 * sweep sets for how it trains the trial (training.threads when trials share a CPU).
 */
export function trialConfig(raw: Record<string, unknown>, settings: Record<string, SettingValue>, spec: Pick<SweepSpec, "budget_steps">, name: string, index: number, extra: Record<string, SettingValue> = {}): Record<string, unknown> {
  const budget: Record<string, SettingValue> = spec.budget_steps !== null ? { "training.max_steps": spec.budget_steps } : {};
  return { ...applySettings(raw, { ...settings, ...budget, ...extra }), name: `${name}-t${index}` };
}

/** "training.learning_rate=0.0001, lora.r=16": a trial's settings in one line. */
export function describeSettings(settings: Record<string, SettingValue>): string {
  const entries = Object.entries(settings);
  return entries.length === 0 ? "the config as it is" : entries.map(([k, v]) => `${k}=${v === null ? "null" : String(v)}`).join(", ");
}
