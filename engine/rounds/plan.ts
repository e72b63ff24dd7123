/**
 * Planning a rounds loop before anything runs: the config file's `rounds:` block and the caller's
 * overrides into a spec (a bad field named with its line), the synthesis options every round uses
 * (checked against synthData's own schema, so options other engineers add to it pass through
 * unchanged), the evaluation prompts (the same file every round, never the synthesized data), and
 * the config each round trains, validated once.
 */
import { existsSync, statSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { validateConfig } from "../config/load";
import { SynthOptionsSchema, type SynthOptions } from "../synth/schema";
import { responseSpecs } from "../synth/select";
import { WhetstoneError } from "../util/errors";
import { RoundsSpecSchema, type RoundsDpo, type RoundsSpec } from "./schema";

export interface NewRounds {
  /** The config every round trains, without its rounds block, and its folder (relative paths). */
  raw: Record<string, unknown>;
  baseDir: string;
  configPath: string | null;
  name: string;
  /** The file's rounds block (raw), then the caller's overrides of it. */
  block: unknown;
  overrides: Partial<RoundsSpec>;
  lineOf?: (path: PropertyKey[]) => number | undefined;
}

export interface RoundsPlan {
  spec: RoundsSpec;
  /** The evaluation prompt file (absolute). */
  prompts: string;
  /** The config's model folder (absolute): round 1 synthesizes with it; every round is judged against it. */
  baseModel: string;
  /** The config's init_from, a finished run's id or name the loop starts from (resolved by the caller), or null. */
  startFrom: string | null;
}

/** The synthesis options fixed by the round (its model, its file), not the block's to set. */
const ROUND_OWNED = ["model", "run", "out"];
/** Synthesis options that name files, resolved against the config's folder. */
const SYNTH_PATHS = ["seeds", "evalPrompts"];

const camel = (key: string) => key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

export function planRounds(input: NewRounds): RoundsPlan {
  const invalid = (path: PropertyKey[], message: string, hint: string, fromFlags = false): WhetstoneError => {
    const line = fromFlags ? undefined : input.lineOf?.(["rounds", ...path]);
    return new WhetstoneError({
      code: "ROUNDS_INVALID",
      message: `${fromFlags ? `--${String(path[0]).replace(/_/g, "-")}` : ["rounds", ...path].join(".")}: ${message}`,
      hint,
      where: !fromFlags && input.configPath ? `${input.configPath}${line ? `:${line}` : ""}` : undefined,
    });
  };
  const parse = (value: unknown, fromFlags: boolean): RoundsSpec => {
    const parsed = RoundsSpecSchema.safeParse(value ?? {});
    if (parsed.success) return parsed.data;
    const issue = parsed.error.issues[0]!;
    const path = issue.code === "unrecognized_keys" ? [...issue.path, issue.keys[0]!] : issue.path;
    const message = path[0] === "rounds" && issue.code === "too_small" ? "give 1 or more: each round synthesizes, trains and is judged once" : issue.message;
    throw invalid(path, message, "Fix the rounds block (`whetstone rounds --help` lists its fields; README's \"Self-bootstrapped rounds\" explains them).", fromFlags);
  };
  const fromFile = parse(input.block, false);
  const overrides: Record<string, unknown> = Object.fromEntries(Object.entries(input.overrides).filter(([, v]) => v !== undefined));
  // `--dpo` (true) turns DPO on with the block's dpo settings, when it has some.
  if (overrides.dpo === true && isObject(input.block) && isObject(input.block.dpo)) delete overrides.dpo;
  const spec = Object.keys(overrides).length ? parse({ ...(isObject(input.block) ? input.block : {}), ...overrides }, true) : fromFile;

  const config = validateConfig(
    roundConfig(input.raw, { name: input.name, index: 1, data: "round-1.jsonl", parentRun: null }),
    { baseDir: input.baseDir, file: input.configPath ?? undefined, lineOf: input.lineOf, checkPaths: false },
  );
  if (config.method !== "sft") {
    throw new WhetstoneError({
      code: "ROUNDS_INVALID",
      message: `method: ${config.method}; rounds train supervised (sft) on the conversations each round synthesizes.`,
      hint: "Set method: sft in the config; for DPO on the judge's pairs after each round's SFT, add dpo: {} to the rounds block.",
      where: input.configPath ? `${input.configPath}${input.lineOf?.(["method"]) ? `:${input.lineOf(["method"])}` : ""}` : undefined,
    });
  }
  if (config.init_from !== null && isAbsolute(config.init_from)) {
    throw new WhetstoneError({
      code: "ROUNDS_INVALID",
      message: `init_from: ${config.init_from} is a folder; rounds start from a finished run, which writes round 1's data and is the model round 1 must beat.`,
      hint: "Give the run's id or name as init_from, or remove init_from to start from model.path.",
      where: input.configPath ? `${input.configPath}${input.lineOf?.(["init_from"]) ? `:${input.lineOf(["init_from"])}` : ""}` : undefined,
    });
  }
  const prompts = spec.prompts !== null ? abs(input.baseDir, spec.prompts) : config.data.validation;
  if (prompts === null) {
    throw new WhetstoneError({
      code: "ROUNDS_NO_PROMPTS",
      message: "Every round is judged on the same evaluation prompts, and neither rounds.prompts nor data.validation names a file of them.",
      hint: "Give rounds.prompts (a prompt file: .txt a line each, JSONL of {messages} or {prompt}, or any dataset file) or data.validation. A held-out split will not do: each round trains on new data.",
      where: input.configPath ?? undefined,
    });
  }
  if (!existsSync(prompts) || !statSync(prompts).isFile()) {
    throw new WhetstoneError({
      code: "ROUNDS_NO_PROMPTS",
      message: `${spec.prompts !== null ? "rounds.prompts" : "data.validation"}: no file at ${prompts}`,
      hint: "Point it at the file of evaluation prompts (relative paths are relative to the config file).",
      where: input.configPath ? `${input.configPath}${input.lineOf?.(spec.prompts !== null ? ["rounds", "prompts"] : ["data", "validation"]) ? `:${input.lineOf(spec.prompts !== null ? ["rounds", "prompts"] : ["data", "validation"])}` : ""}` : undefined,
    });
  }
  // The rounds' data does not exist yet: the prompt file stands in for data.train so that the model and every other path are checked now.
  validateConfig(roundConfig(input.raw, { name: input.name, index: 1, data: prompts, parentRun: null }), { baseDir: input.baseDir, file: input.configPath ?? undefined, lineOf: input.lineOf });
  const synth = synthOptions(spec, { baseDir: input.baseDir, prompts, out: "/dev/null", model: config.model.path, run: null, round: 1 }, (key, message) =>
    invalid(["synth", key], message, "Fix the synth options of the rounds block (those of `whetstone synth --help`, in snake_case or camelCase)."),
  );
  if (spec.dpo !== null) checkDpo(input, spec.dpo, synth, prompts, (path, message, hint) => invalid(path, message, hint, overrides.dpo !== undefined));
  return { spec, prompts, baseModel: config.model.path, startFrom: config.init_from };
}

/**
 * The dpo option's needs, before anything runs: the round's synthesis must give the judge two answers
 * or more per prompt to choose between (its scores are where the pairs come from), and the DPO run's
 * config (the base with the option's preference and training settings) must be valid; an error in it
 * is named at the option's own line.
 */
function checkDpo(input: NewRounds, dpo: RoundsDpo, synth: SynthOptions, prompts: string, invalid: (path: PropertyKey[], message: string, hint: string) => WhetstoneError): void {
  const answers = responseSpecs(synth, 1 + synth.responderModels.length + synth.responderRuns.length).length;
  if (answers < 2 || synth.select !== "sft") {
    throw invalid(
      ["dpo"],
      answers < 2
        ? "each round's DPO pairs are the judge's best and worst of a prompt's answers, and rounds.synth gives one answer per prompt"
        : "the round's SFT run trains on the judge's best answers (select: sft), and the DPO pairs are made from the same judged answers",
      answers < 2 ? "Set rounds.synth.responses to 2 or more (4 is usual), or remove rounds.dpo." : "Remove select from rounds.synth (the round writes its pairs itself).",
    );
  }
  const lineOf = (path: PropertyKey[]) => {
    const [section, key] = path;
    if ((section === "training" || section === "preference") && typeof key === "string" && key in dpo[section]) return input.lineOf?.(["rounds", "dpo", ...path]);
    return input.lineOf?.(path);
  };
  try {
    validateConfig(dpoConfig(input.raw, { name: input.name, index: 1, pairs: prompts, sftRun: null, dpo }), { baseDir: input.baseDir, file: input.configPath ?? undefined, lineOf, checkPaths: false });
  } catch (e) {
    if (!(e instanceof WhetstoneError)) throw e;
    throw new WhetstoneError({ code: "ROUNDS_INVALID", message: `rounds.dpo: the DPO run's config (the config with the option's preference and training settings): ${e.message}`, hint: e.hint, where: e.where });
  }
}

/**
 * A round's DPO run config: the base config as method dpo on the round's pairs, chained from the
 * round's SFT run, with the option's preference settings and training overrides. The SFT-only
 * settings are not inherited: the validation file (conversations, not pairs), NEFTune and goldfish
 * (the option's training may set them again).
 */
export function dpoConfig(raw: Record<string, unknown>, round: { name: string; index: number; pairs: string; sftRun: string | null; dpo: RoundsDpo }): Record<string, unknown> {
  const { validation: _validation, schema: _schema, ...data } = isObject(raw.data) ? raw.data : {};
  const { neftune_alpha: _neftune, goldfish: _goldfish, ...training } = isObject(raw.training) ? raw.training : {};
  const out: Record<string, unknown> = {
    ...raw,
    name: `${round.name}-r${round.index}-dpo`,
    method: "dpo",
    data: { ...data, train: round.pairs },
    training: { ...training, ...round.dpo.training },
    preference: round.dpo.preference,
  };
  delete out.init_from;
  if (round.sftRun !== null) out.init_from = round.sftRun;
  return out;
}

/** A round's raw config: the base with the round's data, name and parent run. */
export function roundConfig(raw: Record<string, unknown>, round: { name: string; index: number; data: string; parentRun: string | null }): Record<string, unknown> {
  const data = isObject(raw.data) ? raw.data : {};
  const out: Record<string, unknown> = { ...raw, name: `${round.name}-r${round.index}`, data: { ...data, train: round.data } };
  if (round.parentRun !== null) out.init_from = round.parentRun;
  return out;
}

/**
 * The synthData request of a round: the block's options (snake_case keys taken as camelCase), the
 * round's model and file, its seed moved by 100000 per round so the rounds' candidate streams
 * (candidate i samples with seed + i) do not overlap, and the evaluation prompts decontaminated
 * against and the loop's judge choosing among answers unless the block names others. `invalid` words
 * an error about one of the block's keys.
 */
export function synthOptions(
  spec: RoundsSpec,
  round: { baseDir: string; prompts: string; out: string; model: string | null; run: string | null; round: number },
  invalid: (key: string, message: string) => Error = (key, message) => new WhetstoneError({ code: "ROUNDS_INVALID", message: `rounds.synth.${key}: ${message}`, hint: "Fix the rounds block." }),
): SynthOptions {
  const keys = new Map<string, string>();
  const options: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(spec.synth)) {
    const name = camel(key);
    if (ROUND_OWNED.includes(name)) throw invalid(key, `each round sets it (round 1 synthesizes with the config's model, later rounds with the previous round's run, into rounds/<id>/round-<r>.jsonl).`);
    keys.set(name, key);
    options[name] = SYNTH_PATHS.includes(name) && typeof value === "string" ? abs(round.baseDir, value) : value;
  }
  for (const needed of ["method", "n"]) if (options[needed] === undefined) throw invalid(needed, `missing: every round synthesizes its data with it (e.g. method: magpie, n: 200).`);
  if (typeof options.n === "number" && options.n < 1) throw invalid(keys.get("n")!, `${options.n} rows trains nothing; give 1 or more.`);
  const seed = typeof options.seed === "number" ? options.seed : 0;
  // The judge that picks among a prompt's answers is the loop's judge unless the synth options name another.
  const judge = spec.judge === null || /^https?:\/\//i.test(spec.judge) ? spec.judge : abs(round.baseDir, spec.judge);
  const request = {
    evalPrompts: round.prompts,
    judge,
    ...options,
    seed: seed + 100_000 * (round.round - 1),
    out: round.out,
    ...(round.run !== null ? { run: round.run } : { model: round.model }),
  };
  const parsed = SynthOptionsSchema.safeParse(request);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = issue.code === "unrecognized_keys" ? issue.keys[0]! : String(issue.path[0] ?? "");
    throw invalid(keys.get(key) ?? key, issue.code === "unrecognized_keys" ? "not a synthesis option" : issue.message);
  }
  return parsed.data;
}

function abs(baseDir: string, path: string): string {
  return isAbsolute(path) ? path : resolve(baseDir, path);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
