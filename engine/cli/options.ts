/**
 * Per-command option tables: each command declares its usage lines and its options (type, help,
 * default) once, and that one table drives parsing (node:util parseArgs, strict), the typed values
 * a command receives, `whetstone help` and `whetstone CMD --help`. An option another command takes
 * is an unknown option here, with the command's own options named in the error.
 */
import { parseArgs } from "node:util";
import { WhetstoneError } from "../util/errors";

export type OptionType = "boolean" | "string" | "int" | "number";

export interface OptionSpec {
  type: OptionType;
  help: string;
  /** Placeholder shown in the help: `--out DIR`. */
  value?: string;
  /** Shown in the help; the engine applies the real default (unset options are not sent). */
  default?: string;
  choices?: readonly string[];
  short?: string;
  /** May be given several times; the values come as a list. */
  multiple?: boolean;
}

export type Options = Record<string, OptionSpec>;

type ValueOf<S extends OptionSpec> = S["multiple"] extends true
  ? string[]
  : S["type"] extends "boolean"
  ? boolean
  : S["type"] extends "int" | "number"
    ? number
    : S["choices"] extends readonly (infer C extends string)[]
      ? C
      : string;

/** The parsed values of a command's options: what its table declares, typed. */
export type Values<O extends Options> = { [K in keyof O]?: ValueOf<O[K]> };

export interface Usage {
  /** After `whetstone`: `train CONFIG`, `eval --judgments FILE`. */
  line: string;
  summary: string;
}

export interface CommandSpec<O extends Options = Options, C = unknown> {
  /** `train`, or a group's subcommand: `models pull`. */
  name: string;
  usage: Usage[];
  options: O;
  run: (ctx: C, args: string[], values: Values<O>) => Promise<number> | number;
}

export const HELP_OPTION: OptionSpec = { type: "boolean", short: "h", help: "this help" };

function usageError(message: string, command?: string): WhetstoneError {
  return new WhetstoneError({ code: "USAGE", message, hint: command ? `\`whetstone ${command} --help\` explains each option.` : "`whetstone help` lists the commands." });
}

/** Splits the command (and a group's subcommand) off argv, parses the rest against its table. */
export function parseCommand<C>(
  commands: readonly CommandSpec<Options, C>[],
  argv: string[],
): { spec: CommandSpec<Options, C>; args: string[]; values: Values<Options> } | { group: string } {
  const at = argv.findIndex((a) => !a.startsWith("-"));
  const name = argv[at]!;
  let skip = [at];
  let spec = commands.find((c) => c.name === name);
  if (!spec && commands.some((c) => c.name.startsWith(`${name} `))) {
    const subAt = argv.findIndex((a, i) => i > at && !a.startsWith("-"));
    spec = subAt >= 0 ? commands.find((c) => c.name === `${name} ${argv[subAt]}`) : undefined;
    if (!spec) {
      if (subAt < 0 && argv.some((a) => a === "--help" || a === "-h")) return { group: name };
      const subs = commands.filter((c) => c.name.startsWith(`${name} `)).map((c) => c.name.slice(name.length + 1));
      const message = subAt >= 0 ? `Unknown \`whetstone ${name} ${argv[subAt]}\`; its commands: ${subs.join(", ")}.` : `\`whetstone ${name}\` needs one of: ${subs.join(", ")}.`;
      throw new WhetstoneError({ code: "USAGE", message, hint: `\`whetstone ${name} --help\` shows what each does.` });
    }
    skip = [at, subAt];
  }
  if (!spec) throw usageError(`Unknown command '${name}'.`);
  const rest = argv.filter((_, i) => !skip.includes(i));
  const options: Options = { ...spec.options, help: HELP_OPTION };
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      strict: true,
      options: Object.fromEntries(
        Object.entries(options).map(([k, o]) => [k, { type: o.type === "boolean" ? ("boolean" as const) : ("string" as const), ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) }]),
      ),
    });
  } catch (e) {
    const known = Object.keys(spec.options).map((k) => `--${k}`);
    const code = (e as { code?: string }).code;
    const option = /'(-[^']*)'/.exec((e as Error).message)?.[1] ?? "";
    if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
      throw usageError(`Unknown option '${option}' for \`whetstone ${spec.name}\`; ${known.length ? `its options: ${known.join(", ")}` : "it takes no options"}.`, spec.name);
    }
    throw usageError(`\`whetstone ${spec.name}\`: ${(e as Error).message.split(". ")[0]}.`, spec.name);
  }
  const values: Record<string, string | number | boolean | string[]> = {};
  for (const [key, raw] of Object.entries(parsed.values)) {
    if (Array.isArray(raw)) values[key] = raw.map((r) => String(convert(spec.name, key, options[key]!, String(r))));
    else values[key] = typeof raw === "string" ? convert(spec.name, key, options[key]!, raw) : (raw as boolean);
  }
  return { spec, args: parsed.positionals, values: values as Values<Options> };
}

function convert(command: string, name: string, spec: OptionSpec, raw: string): string | number {
  if (spec.type === "int" || spec.type === "number") {
    const n = Number(raw);
    const ok = raw.trim() !== "" && Number.isFinite(n) && n >= 0 && (spec.type === "number" || Number.isInteger(n));
    if (!ok) throw usageError(`--${name} must be a ${spec.type === "int" ? "whole number" : "number ≥ 0"}, got '${raw}'.`, command);
    return n;
  }
  if (spec.choices && !spec.choices.includes(raw)) throw usageError(`--${name} must be one of ${spec.choices.join(", ")}, got '${raw}'.`, command);
  return raw;
}

const COLUMN = 32;
const WIDTH = 100;

/** `text` wrapped to WIDTH, every line but the first indented to `indent`. */
function wrap(text: string, indent: number): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && indent + line.length + 1 + word.length > WIDTH) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  lines.push(line);
  return lines.join(`\n${" ".repeat(indent)}`);
}

/** `  left` then `right` in the help column (on the next line when `left` is too long), wrapped. */
function row(left: string, right: string, column = COLUMN): string {
  const head = `  ${left}`;
  return head.length < column ? `${head.padEnd(column)}${wrap(right, column)}` : `${head}\n${" ".repeat(column)}${wrap(right, column)}`;
}

/** What the help is made of: a command's name, usage lines and options. */
export type Described = Pick<CommandSpec, "name" | "usage" | "options">;

export function usageLines(commands: readonly Described[]): string {
  return commands.flatMap((c) => c.usage.map((u) => row(`whetstone ${u.line}`, u.summary))).join("\n");
}

function optionLeft(name: string, o: OptionSpec): string {
  return `--${name}${o.short ? `, -${o.short}` : ""}${o.value ? ` ${o.value}` : ""}`;
}

/** `whetstone CMD --help`: its usage lines, then each option with its help and default. */
export function commandHelp(spec: Described): string {
  const options = Object.entries({ ...spec.options, help: HELP_OPTION }).map(([name, o]) => {
    const choices = o.choices ? `: ${o.choices.join(", ")}` : "";
    return row(optionLeft(name, o), `${o.help}${choices}${o.multiple ? " (repeatable)" : ""}${o.default !== undefined ? ` (default ${o.default})` : ""}`, 26);
  });
  return [`Usage:\n${usageLines([spec])}`, `Options:\n${options.join("\n")}`].join("\n\n");
}
