/**
 * Is this folder a base model Whetstone can train? The wizard asks as soon as a path is typed or
 * picked, so a made-up path is caught at step 1 instead of at Start. Reads file names and two small
 * JSON files only: nothing is loaded. Each check says what is missing in words, the way
 * `whetstone train` would refuse it (config.json, weights, tokenizer), plus the chat template that
 * the data step's preview needs (its absence is a warning: base models train on plain text too).
 */
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { homedir } from "node:os";
import { cachedSnapshot, isHubId } from "./hub";

export interface ModelCheckItem {
  item: "folder" | "config" | "weights" | "tokenizer" | "chat_template";
  ok: boolean;
  /** Blocks training when not ok (the chat template only warns). */
  required: boolean;
  detail: string;
}

export interface ModelCheck {
  /** What was asked. */
  input: string;
  /** The folder checked: the input made absolute, or the cached snapshot of a hub id. */
  path: string;
  ok: boolean;
  /** A LoRA adapter folder rather than a model (it needs its base model). */
  adapter: boolean;
  architecture: string | null;
  checks: ModelCheckItem[];
}

const WEIGHTS = /\.(safetensors|bin|pt|pth)$/;
const WEIGHT_INDEX = /^(model|pytorch_model)\.(safetensors|bin)\.index\.json$/;

export function checkModel(input: string, env: NodeJS.ProcessEnv = process.env): ModelCheck {
  const raw = input.trim();
  const expanded = raw === "~" || raw.startsWith("~/") ? join(homedir(), raw.slice(1)) : raw;
  let path = resolve(expanded);
  if (!existsSync(path) && isHubId(raw)) path = cachedSnapshot(raw, "model", env) ?? path;
  const checks: ModelCheckItem[] = [];
  const add = (item: ModelCheckItem["item"], ok: boolean, detail: string, required = true) => checks.push({ item, ok, required, detail });

  const isDir = existsSync(path) && statSync(path).isDirectory();
  if (!isDir) {
    add("folder", false, existsSync(path) ? `${path} is a file, not a folder: choose the folder that holds config.json.` : isHubId(raw) ? `There is no folder ${raw} here, and ${raw} is not in the Hugging Face cache: download it from the list below, or choose a local folder.` : `There is no folder at ${path}.`);
    return { input: raw, path, ok: false, adapter: false, architecture: null, checks };
  }
  add("folder", true, path);
  const files = readdirSync(path);
  const has = (name: string) => files.includes(name);
  const adapter = has("adapter_config.json") && !has("config.json");

  let architecture: string | null = null;
  if (!has("config.json")) {
    add("config", false, adapter ? "This is a LoRA adapter folder (adapter_config.json), not a model: choose its base model here, and start from the adapter's run in the Method step." : "config.json is missing: this is not a Hugging Face model folder.");
  } else {
    try {
      const config = JSON.parse(readFileSync(join(path, "config.json"), "utf8")) as { architectures?: string[]; model_type?: string };
      architecture = config.architectures?.[0] ?? config.model_type ?? null;
      add("config", true, architecture ? `config.json: ${architecture}` : "config.json");
    } catch (e) {
      add("config", false, `config.json is not valid JSON (${(e as Error).message}).`);
    }
  }

  const weights = files.filter((f) => WEIGHTS.test(f) && !f.startsWith("training_") && !f.startsWith("optimizer"));
  const index = files.find((f) => WEIGHT_INDEX.test(f));
  const missingShards = index ? shardsMissing(join(path, index), files) : [];
  if (weights.length === 0) add("weights", false, "No weights: the folder has no *.safetensors (or *.bin) files.");
  else if (missingShards.length) add("weights", false, `${missingShards.length} of the shards listed in ${index} are missing (${missingShards.slice(0, 3).join(", ")}${missingShards.length > 3 ? ", …" : ""}): the download is incomplete.`);
  else add("weights", true, weights.length === 1 ? weights[0]! : `${weights.length} weight files`);

  const tokenizer = ["tokenizer.json", "tokenizer.model", "vocab.json"].find(has);
  add("tokenizer", tokenizer !== undefined, tokenizer ?? "No tokenizer: tokenizer.json (or tokenizer.model, or vocab.json with merges.txt) is missing.");

  const template = chatTemplateSource(path, has);
  add("chat_template", template !== null, template ? `chat template from ${template}` : "No chat template: conversations cannot be rendered with this model's own format. Use an instruct/chat model for chat data, or add chat_template.jinja to the folder.", false);

  return { input: raw, path, ok: checks.every((c) => c.ok || !c.required), adapter, architecture, checks };
}

function shardsMissing(indexFile: string, files: string[]): string[] {
  try {
    const map = (JSON.parse(readFileSync(indexFile, "utf8")) as { weight_map?: Record<string, string> }).weight_map ?? {};
    return [...new Set(Object.values(map))].filter((f) => !files.includes(f));
  } catch {
    return [];
  }
}

/** Where the template is, in the order engine/data/tokenizer.ts looks it up. */
function chatTemplateSource(dir: string, has: (name: string) => boolean): string | null {
  if (has("chat_template.jinja")) return "chat_template.jinja";
  for (const name of ["chat_template.json", "tokenizer_config.json"]) {
    if (!has(name)) continue;
    try {
      const t = (JSON.parse(readFileSync(join(dir, name), "utf8")) as { chat_template?: unknown }).chat_template;
      if (typeof t === "string" || Array.isArray(t)) return name;
    } catch {
      // An unreadable tokenizer_config.json is reported by the tokenizer itself when it loads.
    }
  }
  return null;
}
