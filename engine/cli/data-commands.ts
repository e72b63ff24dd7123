/**
 * `whetstone data check FILE` and `whetstone data preview FILE --index N`: the dataset report and
 * one rendered sample. `--config CONFIG` takes the data, model and goldfish settings from a run
 * config, so what is checked is exactly what `whetstone train CONFIG` would train on.
 */
import type { EngineEvent } from "../api/events";
import { loadConfigFile } from "../config/file";
import type { InspectOptions, PreviewOptions } from "../data/report";
import { rewardFields } from "../data/run-data";
import type { FileFormat, Method, SchemaName } from "../data/types";
import { WhetstoneError } from "../util/errors";
import { EXIT, type Client, type Io } from "./io";
import { formatDatasetReport, formatPreview } from "./data-report";
import { duration } from "./format";

/** The options `data check` and `data preview` share (table.ts), and each one's own. */
export interface DataFlags {
  json?: boolean;
  config?: string;
  model?: string;
  format?: FileFormat;
  schema?: SchemaName;
  columns?: string;
  roles?: string;
  "max-length"?: number;
  overlong?: "drop" | "truncate" | "error";
}

const USAGE = "Usage: whetstone data check FILE [--method sft|dpo|simpo|orpo|kto|grpo] [--model DIR] [--format F] …  |  whetstone data preview FILE --model DIR --index N";

/** The file and the data settings: the flags, else the run config's (--config), else the engine's defaults. */
function source(sub: string, fileArg: string | undefined, flags: DataFlags) {
  const fromConfig = flags.config ? loadConfigFile(flags.config).config : undefined;
  const path = fileArg ?? fromConfig?.data.train;
  if (!path) throw usage(`\`whetstone data ${sub}\` needs a FILE (or --config).`);
  const d = fromConfig?.data;
  const common = {
    format: flags.format ?? (d?.format as FileFormat | undefined),
    schema: flags.schema ?? (d?.schema as SchemaName | undefined),
    columns: pairs("columns", flags.columns) ?? d?.columns,
    roles: pairs("roles", flags.roles) ?? d?.roles,
    maxLength: flags["max-length"] ?? d?.max_length,
    overlong: flags.overlong ?? d?.overlong,
  };
  return { path, fromConfig, common, model: flags.model ?? fromConfig?.model.path };
}

export async function dataCheckCommand(engine: Client, fileArg: string | undefined, io: Io, flags: DataFlags & { method?: Method; "skip-invalid"?: boolean }): Promise<number> {
  const { path, fromConfig, common, model } = source("check", fileArg, flags);
  // Without --method (or a config), the report lists the methods the data can train.
  const method = flags.method ?? fromConfig?.method;
  // grpo: the config's completion budget and the fields its rewards read are checked on every row.
  const grpo = fromConfig?.method === "grpo" && method === "grpo" ? { completionTokens: fromConfig.preference?.max_completion_tokens as number, promptFields: rewardFields(fromConfig) } : {};
  const opts: InspectOptions = { ...common, model, ...(method ? { method } : {}), ...grpo, skipInvalid: flags["skip-invalid"] ?? fromConfig?.data.skip_invalid };
  const stop = showProgress(engine, io);
  const report = await engine.call("inspectDataset", { path, ...opts }).finally(stop);
  io.out.write((flags.json ? JSON.stringify(report, null, 2) : formatDatasetReport(report)) + "\n");
  return report.trainable ? EXIT.ok : EXIT.failed;
}

export async function dataPreviewCommand(engine: Client, fileArg: string | undefined, io: Io, flags: DataFlags & { index?: number; goldfish?: string }): Promise<number> {
  const { path, fromConfig, common, model } = source("preview", fileArg, flags);
  if (!model) throw usage("`whetstone data preview` needs --model DIR (the base model whose chat template renders the sample), or --config.");
  const goldfish = flags.goldfish !== undefined ? goldfishFlag(flags.goldfish) : (fromConfig?.training.goldfish ?? null);
  const opts: PreviewOptions = { ...common, model, index: flags.index ?? 0, goldfish };
  const preview = await engine.call("previewDataset", { path, ...opts });
  io.out.write((flags.json ? JSON.stringify(preview, null, 2) : formatPreview(preview, io.out.isTTY)) + "\n");
  return EXIT.ok;
}

/** A redrawn progress line on a terminal while a big file is read; returns the stopper. */
function showProgress(engine: Client, io: Io): () => void {
  if (!io.out.isTTY) return () => undefined;
  let drawn = false;
  const onEvent = (e: EngineEvent) => {
    if (e.type !== "dataset" || e.progress.elapsed_s < 1) return;
    const p = e.progress;
    const pct = p.total ? Math.floor((100 * p.current) / p.total) : 0;
    const mbs = p.current / 1e6 / Math.max(p.elapsed_s, 1e-3);
    io.err(`\r\x1b[2Kreading ${pct}%  ${mbs.toFixed(0)} MB/s  ${p.message}  ETA ${duration(p.eta_s)}`);
    drawn = true;
  };
  const unsubscribe = engine.subscribe(onEvent);
  return () => {
    unsubscribe();
    if (drawn) io.err("\r\x1b[2K");
  };
}

function usage(message: string): WhetstoneError {
  return new WhetstoneError({ code: "USAGE", message, hint: `${USAGE}; \`whetstone data check --help\` lists the options.` });
}

function choice<T extends string>(name: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw usage(`--${name} must be one of ${allowed.join(", ")}, got '${value}'.`);
  return value as T;
}

function intFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw usage(`--${name} must be a whole number, got '${value}'.`);
  return n;
}

/** `a=b,c=d` → {a: "b", c: "d"}. */
export function pairs(name: string, value: string | undefined): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const part of value.split(",").filter((p) => p.trim())) {
    const eq = part.indexOf("=");
    if (eq <= 0 || eq === part.length - 1) throw usage(`--${name} takes NAME=VALUE pairs separated by commas, got '${part}'.`);
    out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

/** `hashed` | `static` | `random` | `off` | `k=4,h=13,variant=hashed`. */
function goldfishFlag(value: string): PreviewOptions["goldfish"] {
  if (value === "off" || value === "none") return null;
  if (["hashed", "static", "random"].includes(value)) return { variant: value as "hashed" | "static" | "random" };
  const p = pairs("goldfish", value)!;
  const variant = choice("goldfish variant", p.variant, ["hashed", "static", "random"] as const);
  return { ...(p.k ? { k: intFlag("goldfish k", p.k) } : {}), ...(p.h ? { h: intFlag("goldfish h", p.h) } : {}), ...(variant ? { variant } : {}) };
}
