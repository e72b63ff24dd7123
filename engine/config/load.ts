/**
 * Validating run configs (files are read by ./file, which loads the YAML parser only when one is read).
 * Errors name the field, the bad value, what is allowed and, for YAML files, the line; an unknown key gets a did-you-mean. Relative paths in a config file are
 * resolved against the file's folder, so a config works from any working directory.
 */
import { readFileSync, statSync, existsSync, accessSync, constants } from "node:fs";
import { basename, dirname, extname, isAbsolute, resolve } from "node:path";
import type { z } from "zod";
import { RunConfigSchema, objectShape, type RunConfig } from "./schema";
import { resolvePreference } from "./preference";
import { WhetstoneError } from "../util/errors";
import { closest } from "../util/text";
import { cachedSnapshot, isHubId, resolveHubModel } from "../models/hub";

export interface ValidateOptions {
  file?: string;
  lineOf?: (path: PropertyKey[]) => number | undefined;
  defaultName?: string;
  /** Folder that relative paths are resolved against (the config file's folder). */
  baseDir?: string;
  /** Check that referenced files exist (off for configs that only get displayed). */
  checkPaths?: boolean;
}

/**
 * A raw config with training.devices set (createRun's `devices`, the CLI's --devices), before it is
 * validated: the checks that depend on it still apply (a method not yet trained on several devices is
 * refused) and the run's stored config records the devices it trained on. Anything not a mapping is
 * left for validation to refuse.
 */
export function withDevices(raw: unknown, devices: number | "auto" | undefined): unknown {
  if (devices === undefined || raw === null || typeof raw !== "object" || Array.isArray(raw)) return raw;
  const config = raw as Record<string, unknown>;
  const training = config.training !== null && typeof config.training === "object" && !Array.isArray(config.training) ? config.training : {};
  return { ...config, training: { ...training, devices } };
}

/** Validate any object (from a file, the HTTP API or the wizard) into a resolved RunConfig. */
export function validateConfig(raw: unknown, opts: ValidateOptions = {}): RunConfig {
  const where = (path: PropertyKey[]) => {
    const line = opts.lineOf?.(path);
    return opts.file ? `${opts.file}${line ? `:${line}` : ""}` : undefined;
  };
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new WhetstoneError({
      code: "CONFIG_INVALID",
      message: "The config must be a mapping of sections (model, data, training, …).",
      hint: "See examples/tiny-sft.yaml for the shape.",
      where: opts.file,
    });
  }
  // A config file's `sweep` block is for `whetstone sweep` (engine/sweep), its `rounds` block for
  // `whetstone rounds` (engine/rounds); a run trains the rest.
  const { sweep: _sweep, rounds: _rounds, ...body } = raw as Record<string, unknown>;
  const parsed = RunConfigSchema.safeParse(body, { reportInput: true });
  if (!parsed.success) {
    const issues = onePerField(parsed.error.issues);
    // An unknown key is reported at its own line, not at its parent's.
    const at = (i: z.core.$ZodIssue) => (i.code === "unrecognized_keys" ? [...i.path, i.keys[0]!] : i.path);
    const details = issues.map((i) => describeIssue(i, where(at(i))));
    throw new WhetstoneError({
      code: "CONFIG_INVALID",
      message: `The config has ${issues.length} problem${issues.length === 1 ? "" : "s"}: ${details[0]}`,
      hint: "Fix the fields named above; `whetstone config` lists every field with its allowed values.",
      where: where(at(issues[0]!)),
      details: issues.length > 1 ? details : undefined,
    });
  }
  const base = opts.baseDir ?? process.cwd();
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const data = parsed.data.data;
  if (data.validation !== null && data.validation_split > 0) {
    throw new WhetstoneError({
      code: "CONFIG_INVALID",
      message: `data.validation and data.validation_split are both set (${JSON.stringify(data.validation)}, ${data.validation_split}): use one`,
      hint: "Give a validation file, or a fraction of train to hold out, not both.",
      where: where(["data", "validation_split"]),
    });
  }
  const config: RunConfig = {
    ...resolvePreference(parsed.data, raw as Record<string, unknown>, where),
    name: parsed.data.name ?? opts.defaultName ?? "run",
    model: { ...parsed.data.model, path: modelPath(parsed.data.model.path, abs, opts.checkPaths !== false, where(["model", "path"])) },
    data: { ...data, train: dataPath(data.train, abs), validation: data.validation === null ? null : abs(data.validation) },
    // A path is made absolute here; a run id or name stays as given and is resolved when the run is created.
    init_from: parsed.data.init_from !== null && /^[.~]|[\\/]/.test(parsed.data.init_from) ? abs(parsed.data.init_from) : parsed.data.init_from,
    // A python reward's file, like every path of a config file, is relative to the file's folder.
    ...(parsed.data.rewards ? { rewards: parsed.data.rewards.map((r) => (r.type === "python" ? { ...r, file: abs(r.file) } : r.type === "judge" && r.judge !== null && !/^https?:\/\//i.test(r.judge) ? { ...r, judge: abs(r.judge) } : r)) } : {}),
  };
  if (opts.checkPaths !== false) checkPaths(config, where);
  return config;
}

/** A local file or folder, else a hub dataset id pulled into the Hugging Face cache (checkPaths reports a missing one). */
function dataPath(path: string, abs: (p: string) => string): string {
  const local = abs(path);
  if (!isHubId(path) || existsSync(local)) return local;
  return cachedSnapshot(path, "dataset") ?? local;
}

/** A local folder, else a hub id (`org/name`) resolved to its snapshot in the Hugging Face cache. */
function modelPath(path: string, abs: (p: string) => string, check: boolean, where: string | undefined): string {
  const local = abs(path);
  if (!isHubId(path) || existsSync(local)) return local;
  if (!check) return cachedSnapshot(path) ?? path;
  try {
    return resolveHubModel(path);
  } catch (e) {
    if (e instanceof WhetstoneError) throw new WhetstoneError({ code: e.code, message: e.message, hint: e.hint, where });
    throw e;
  }
}

function checkPaths(config: RunConfig, where: (p: PropertyKey[]) => string | undefined): void {
  const model = config.model.path;
  if (!existsSync(model) || !statSync(model).isDirectory()) {
    throw new WhetstoneError({
      code: "MODEL_NOT_FOUND",
      message: `model.path: no model folder at ${model}`,
      hint: "Point model.path at a local folder with config.json, the weights (*.safetensors) and the tokenizer files.",
      where: where(["model", "path"]),
    });
  }
  for (const required of ["config.json"]) {
    const file = resolve(model, required);
    if (!existsSync(file)) {
      throw new WhetstoneError({
        code: "MODEL_NOT_FOUND",
        message: `model.path: ${model} is not a model folder: ${required} is missing`,
        hint: "A Hugging Face model folder has config.json, *.safetensors weights and tokenizer files.",
        where: where(["model", "path"]),
      });
    }
    try {
      accessSync(file, constants.R_OK);
    } catch {
      throw new WhetstoneError({
        code: "MODEL_UNREADABLE",
        message: `model.path: ${file} is not readable`,
        hint: "Check the file's permissions.",
        where: where(["model", "path"]),
      });
    }
  }
  checkCustomCode(model, config.model.trust_remote_code, where(["model", "trust_remote_code"]) ?? where(["model", "path"]));
  config.rewards?.forEach((r, i) => {
    if (r.type !== "python" || (existsSync(r.file) && statSync(r.file).isFile())) return;
    throw new WhetstoneError({
      code: "REWARD_FILE_NOT_FOUND",
      message: `rewards[${i}].file: no Python file at ${r.file}`,
      hint: "Point it at your reward file (relative paths are relative to the config file), which defines def reward(prompts, completions, **fields).",
      where: where(["rewards", i, "file"]),
    });
  });
  for (const field of ["train", "validation"] as const) {
    const file = config.data[field];
    if (file === null || (existsSync(file) && (statSync(file).isFile() || statSync(file).isDirectory()))) continue;
    throw new WhetstoneError({
      code: "DATA_NOT_FOUND",
      message: `data.${field}: no file at ${file}`,
      hint: "Point it at a dataset file (.jsonl, .json, .csv, .tsv, .parquet, also .jsonl.gz or .jsonl.zst) or a folder of them (examples/tiny-chat.jsonl is one), or at a hub dataset id after `whetstone models pull ID --dataset`.",
      where: where(["data", field]),
    });
  }
}

/** A model that ships its own Python code (auto_map) runs only with model.trust_remote_code: say so
 *  before a run folder is made (the worker checks again, and checks the model type, before tokenizing). */
function checkCustomCode(model: string, trusted: boolean, where: string | undefined): void {
  let config: { auto_map?: unknown; model_type?: unknown };
  try {
    config = JSON.parse(readFileSync(resolve(model, "config.json"), "utf8")) as typeof config;
  } catch {
    return; // a damaged config.json is the worker's MODEL_LOAD_FAILED, with its reason
  }
  if (trusted || config === null || typeof config !== "object" || !config.auto_map) return;
  const classes =
    typeof config.auto_map === "object"
      ? [...new Set(Object.values(config.auto_map as Record<string, unknown>).map((v) => String(v).split("--").at(-1)))].sort().join(", ")
      : String(config.auto_map);
  throw new WhetstoneError({
    code: "MODEL_CUSTOM_CODE",
    message: `model.path: ${model} ships its own Python code (auto_map in config.json: ${classes}; model_type ${JSON.stringify(config.model_type ?? null)}); Whetstone does not run a model's code unless told to.`,
    hint:
      "If you trust its publisher, set model.trust_remote_code: true in the run config. That code then runs on this machine " +
      "with your user's rights (it can read and change your files), so read the folder's .py files first. Otherwise pick a " +
      "model of a type transformers supports (llama, qwen2, mistral, gemma, phi3, …).",
    where,
  });
}

/** One problem per field: `1e300` for an integer breaks both the safe-integer bound and the field's
 *  own maximum; the tighter bound is the one worth reading. Unknown keys are kept apart (one issue
 *  at the parent's path can name several keys). */
function onePerField(issues: z.core.$ZodIssue[]): z.core.$ZodIssue[] {
  const kept = new Map<string, z.core.$ZodIssue>();
  for (const issue of issues) {
    const key = issue.code === "unrecognized_keys" ? `${issue.path.join(".")}\u0000${issue.keys.join(",")}` : issue.path.join(".");
    const seen = kept.get(key);
    if (!seen) kept.set(key, issue);
    else if (seen.code === "too_big" && issue.code === "too_big" && Number(issue.maximum) < Number(seen.maximum)) kept.set(key, issue);
  }
  return [...kept.values()];
}

function fieldName(path: PropertyKey[]): string {
  return path.length ? path.map(String).join(".") : "(top level)";
}

function show(value: unknown): string {
  if (value === undefined) return "nothing";
  // JSON has no NaN or Infinity (JSON.stringify says null): YAML's .nan and .inf do reach us.
  if (typeof value === "number" && !Number.isFinite(value)) return Number.isNaN(value) ? "NaN (not a number)" : String(value);
  const s = JSON.stringify(value);
  return s && s.length > 60 ? s.slice(0, 57) + "..." : String(s);
}

function describeIssue(issue: z.core.$ZodIssue, at: string | undefined): string {
  const field = fieldName(issue.path);
  const suffix = at ? ` (${at})` : "";
  const input = (issue as { input?: unknown }).input;
  switch (issue.code) {
    case "unrecognized_keys": {
      const known = knownKeys(issue.path);
      return issue.keys
        .map((k) => {
          // A shortened name ('warmup' for 'warmup_ratio') is as likely a slip as a misspelled one.
          const near = closest(k, known) ?? known.find((c) => k.length >= 4 && c.startsWith(k));
          const name = issue.path.length ? `${field}.${k}` : k;
          return `unknown key '${name}'${near ? ` (did you mean '${near}'?)` : ""}; allowed here: ${known.join(", ")}${suffix}`;
        })
        .join("; ");
    }
    case "invalid_type":
      if (input === undefined) return `${field} is required (${issue.expected})${suffix}`;
      return `${field} must be ${article(issue.expected)}, got ${show(input)}${suffix}`;
    case "invalid_value":
      return `${field} must be one of ${issue.values.map((x) => show(x)).join(", ")}, got ${show(input)}${suffix}`;
    case "too_small":
      return `${field} must be ${issue.inclusive ? ">=" : ">"} ${String(issue.minimum)}${issue.origin === "array" ? " items" : ""}, got ${show(input)}${suffix}`;
    case "too_big":
      if (Number(issue.maximum) === Number.MAX_SAFE_INTEGER) return `${field} must be a whole number, got ${show(input)} (far too large)${suffix}`;
      return `${field} must be ${issue.inclusive ? "<=" : "<"} ${String(issue.maximum)}, got ${show(input)}${suffix}`;
    case "invalid_union":
      return `${field} has the wrong shape, got ${show(input)}; ${RunConfigHelp[field] ?? issue.message}${suffix}`;
    default:
      return `${field}: ${issue.message}, got ${show(input)}${suffix}`;
  }
}

const article = (t: string) => (/^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`);

const RunConfigHelp: Record<string, string> = {
  "lora.target_modules": "use 'all-linear' or a list of module names such as [q_proj, v_proj]",
};

function knownKeys(path: PropertyKey[]): string[] {
  // Walk the schema along the path to list the keys allowed at that level.
  let schema: unknown = RunConfigSchema;
  for (const key of path) {
    const shape = objectShape(schema);
    if (!shape) return [];
    schema = shape[String(key)];
  }
  return Object.keys(objectShape(schema) ?? {});
}
