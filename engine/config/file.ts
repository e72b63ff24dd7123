/**
 * Reading a run config file (YAML or JSON) into a validated RunConfig, with the line of each bad field.
 * Its own module so that the YAML parser (a third of the CLI's start-up code) loads only when a config
 * file is read: `whetstone runs` and the app's start never need it.
 */
import { readFileSync } from "node:fs";
import { basename, dirname, extname, resolve } from "node:path";
import { LineCounter, parseDocument, isNode } from "yaml";
import type { RunConfig } from "./schema";
import { validateConfig, withDevices } from "./load";
import { WhetstoneError } from "../util/errors";

export interface LoadedConfig {
  config: RunConfig;
  /** The file's text, stored in the run beside the resolved config. */
  source: string;
  path: string;
}

/** `devices` overrides the file's training.devices (see withDevices); the stored source stays the file as written. */
export function loadConfigFile(path: string, overrides: { devices?: number | "auto" } = {}): LoadedConfig {
  const file = readConfigFile(path);
  const config = validateConfig(withDevices(file.raw, overrides.devices), { file: file.path, lineOf: file.lineOf, defaultName: file.defaultName, baseDir: dirname(file.path) });
  return { config, source: file.source, path: file.path };
}

export interface ConfigFile {
  /** The file's content as plain data, not yet validated. */
  raw: unknown;
  /** The line of a field (or of its nearest parent that has one). */
  lineOf: (path: PropertyKey[]) => number | undefined;
  source: string;
  path: string;
  /** The run name the file's name gives. */
  defaultName: string;
}

/** A config file read and parsed (syntax errors with their line), not validated: the sweep reads its `sweep` block and its trials' fields from it. */
export function readConfigFile(path: string): ConfigFile {
  const abs = resolve(path);
  let text: string;
  try {
    text = readFileSync(abs, "utf8");
  } catch (e) {
    throw new WhetstoneError({
      code: "CONFIG_NOT_FOUND",
      message: `Cannot read the config file ${abs}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
      hint: "Check the path; examples/tiny-sft.yaml is a working example.",
      where: abs,
    });
  }
  const isJson = extname(abs).toLowerCase() === ".json";
  if (isJson) checkStrictJson(text.replace(/^\uFEFF/, ""), abs);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text.replace(/^\uFEFF/, ""), { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    const err = doc.errors[0]!;
    const pos = lineCounter.linePos(err.pos[0]);
    throw new WhetstoneError({
      code: "CONFIG_SYNTAX",
      message: `The config is not valid ${isJson ? "JSON" : "YAML"}: ${err.message.split("\n")[0]}`,
      hint: "Fix the syntax at that line (YAML indents with spaces, not tabs).",
      where: `${abs}:${pos.line}:${pos.col}`,
    });
  }
  const raw = doc.toJS() ?? {};
  const lineOf = (path: PropertyKey[]): number | undefined => {
    for (let p = path; p.length > 0; p = p.slice(0, -1)) {
      const node = doc.getIn(p as (string | number)[], true);
      if (isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line;
    }
    return undefined;
  };
  const defaultName = basename(abs, extname(abs)).replace(/[^A-Za-z0-9._-]/g, "-").slice(0, 64) || "run";
  return { raw, lineOf, source: text, path: abs, defaultName };
}

/** A .json config is read as YAML (for line numbers), which forgives what JSON does not (a trailing
 *  comma, single quotes, comments): refuse those first, at their line and column, so a file that other
 *  JSON tools would reject is not silently accepted here. */
function checkStrictJson(text: string, file: string): void {
  try {
    JSON.parse(text);
  } catch (e) {
    const message = (e as Error).message;
    const at = /at position (\d+)/.exec(message);
    const found = at ? Number(at[1]) : text.length;
    const trailingComma = /,\s*$/.test(text.slice(0, found)) && /^[\]}]/.test(text.slice(found));
    const pos = trailingComma ? text.lastIndexOf(",", found) : found; // point at the comma itself
    const before = text.slice(0, pos);
    const line = before.split("\n").length;
    const col = pos - before.lastIndexOf("\n");
    throw new WhetstoneError({
      code: "CONFIG_SYNTAX",
      message: `The config is not valid JSON: ${trailingComma ? "a trailing comma before a closing bracket" : message.replace(/ in JSON at position \d+.*$/, "").replace(/\s*\(line \d+ column \d+\)$/, "")}`,
      hint: trailingComma ? "Remove the comma before the closing bracket: JSON allows none there." : "Fix the JSON at that line and column (or write the config in YAML, which is more forgiving).",
      where: `${file}:${line}:${col}`,
    });
  }
}

export interface RawConfig {
  /** The config's sections, not yet validated (a sweep or rounds block still in it). */
  raw: Record<string, unknown>;
  /** The folder its relative paths are resolved against: the file's, else the caller's. */
  baseDir: string;
  configPath: string | null;
  lineOf?: (path: PropertyKey[]) => number | undefined;
  defaultName: string;
}

/** A config given as a file (CLI) or an object (wizard, HTTP), read but not validated: what a sweep or a rounds loop plans from. */
export function readRawConfig(input: { config?: unknown; configPath?: string; baseDir?: string }, method: string, fallbackName: string): RawConfig {
  let raw: unknown;
  let baseDir: string;
  let configPath: string | null = null;
  let lineOf: RawConfig["lineOf"];
  let defaultName = fallbackName;
  if (input.configPath !== undefined) {
    const file = readConfigFile(input.configPath);
    ({ raw, lineOf, defaultName } = file);
    configPath = file.path;
    baseDir = dirname(file.path);
  } else if (input.config !== undefined) {
    raw = input.config;
    baseDir = input.baseDir ?? process.cwd();
  } else {
    throw new WhetstoneError({ code: "CONFIG_MISSING", message: `${method} needs \`config\` or \`configPath\`.`, hint: "Pass a config object or a config file path." });
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new WhetstoneError({ code: "CONFIG_INVALID", message: "The config must be a mapping of sections (model, data, training, …).", hint: "See examples/tiny-sft.yaml for the shape.", where: configPath ?? undefined });
  }
  return { raw: raw as Record<string, unknown>, baseDir, configPath, lineOf, defaultName };
}
