/**
 * Resolving the preference methods' settings: each method's defaults filled in, fields of another
 * method refused (a `gamma_beta_ratio` on a DPO run is a mistake, not a no-op), NEFTune off unless
 * the config asks for it, goldfish only where there is an SFT term (ORPO). grpo's rewards: required
 * for grpo and refused elsewhere; a python reward runs only with its trust_code set.
 */
import { WhetstoneError } from "../util/errors";
import { PREFERENCE_FIELDS, PREFERENCE_METHODS, type RunConfig } from "./schema";
import { DISTRIBUTED_METHODS, hasSftTerm, trainsOnSeveralDevices } from "./methods";

type Parsed = Omit<RunConfig, "name">;
type Where = (path: PropertyKey[]) => string | undefined;
/** Every method's settings, in the order the table lists them. */
const ALL = [...new Set(PREFERENCE_METHODS.flatMap((m) => Object.keys(PREFERENCE_FIELDS[m])))];
const LISTED = `${PREFERENCE_METHODS.slice(0, -1).join(", ")} and ${PREFERENCE_METHODS.at(-1)}`;

const isPreference = (method: string): method is (typeof PREFERENCE_METHODS)[number] => (PREFERENCE_METHODS as readonly string[]).includes(method);

export function resolvePreference<T extends Parsed>(config: T, raw: Record<string, unknown>, where: Where): T {
  const method = config.method;
  const devices = config.training.devices;
  if (devices !== undefined && devices !== 1 && !trainsOnSeveralDevices(method)) {
    throw invalid(`training.devices ${JSON.stringify(devices)}: training on several devices is available for methods ${DISTRIBUTED_METHODS.join(", ")} so far, and this run is ${method}`, "Set training.devices to 1 (or leave it out) for this run.", where(["training", "devices"]));
  }
  if (config.rewards !== undefined && method !== "grpo") {
    throw invalid(`rewards are set but method is ${method}: rewards score the completions grpo samples`, "Remove the rewards list, or set method to grpo.", where(["rewards"]));
  }
  if (!isPreference(method)) {
    if (config.preference !== null) {
      throw invalid(`preference is set but method is ${method}: preference settings apply to ${LISTED}`, `Remove the preference block, or set method to one of ${LISTED}.`, where(["preference"]));
    }
    return config;
  }
  const given = (config.preference ?? {}) as Record<string, unknown>;
  const defaults = PREFERENCE_FIELDS[method] as Record<string, unknown>;
  const resolved: Record<string, unknown> = {};
  for (const field of ALL) {
    const value = given[field];
    if (value !== undefined && value !== null && !(field in defaults)) {
      const owners = PREFERENCE_METHODS.filter((m) => field in PREFERENCE_FIELDS[m]).join(", ");
      throw invalid(`preference.${field} is a setting of ${owners}, not of method ${method}`, `Remove it; ${method} takes ${Object.keys(defaults).join(", ")}.`, where(["preference", field]));
    }
    resolved[field] = field in defaults ? (value ?? defaults[field]) : null;
  }
  if (method !== "grpo" && resolved.beta === 0) {
    throw invalid(`preference.beta must be above 0 for ${method} (it scales the reward; only grpo's KL weight may be 0)`, `Set preference.beta to a positive value, such as the default ${String(defaults.beta)}.`, where(["preference", "beta"]));
  }
  if (method === "grpo") checkGrpo(config, resolved, where);
  if (config.finetune === "qlora") {
    throw invalid(`finetune qlora is not available for ${method} yet`, "Use finetune: lora (the same adapters on full-precision base weights) or full.", where(["finetune"]));
  }
  if (config.training.goldfish !== null && !hasSftTerm(method)) {
    throw invalid(`training.goldfish applies to an SFT loss term; ${method} has none (only ${PREFERENCE_METHODS.filter(hasSftTerm).join(", ")} does)`, "Set training.goldfish to null for this method.", where(["training", "goldfish"]));
  }
  // NEFTune is off by default for preference methods (its schema default is for SFT); an explicit value wins.
  const training = raw.training as Record<string, unknown> | undefined;
  const neftune = training?.neftune_alpha === undefined ? 0 : config.training.neftune_alpha;
  return { ...config, preference: resolved as T["preference"], training: { ...config.training, neftune_alpha: neftune } };
}

function checkGrpo(config: Parsed, resolved: Record<string, unknown>, where: Where): void {
  resolved.epsilon_high ??= resolved.epsilon; // symmetric clip unless asked otherwise (TRL's default too)
  if (config.rewards === undefined) {
    throw invalid("method grpo needs rewards: how each sampled completion is scored", "Add a rewards list, e.g. rewards: [{type: exact_match, field: answer}] to compare each completion's answer with the row's answer field.", where(["method"]));
  }
  config.rewards.forEach((r, i) => {
    if (r.type === "python" && !r.trust_code) {
      throw invalid(
        `rewards[${i}] runs the Python file ${r.file}: it executes with your rights, so it needs your explicit consent`,
        "If you wrote or checked the file, set trust_code: true on this reward (as model.trust_remote_code does for a model's code).",
        where(["rewards", i, "trust_code"]) ?? where(["rewards", i]),
      );
    }
  });
  const completion = resolved.max_completion_tokens as number;
  if (completion >= config.data.max_length) {
    throw invalid(
      `data.max_length ${config.data.max_length} leaves no room for a prompt beside ${completion} completion tokens (preference.max_completion_tokens)`,
      `Raise data.max_length above ${completion} by the length of your longest prompt, or lower preference.max_completion_tokens.`,
      where(["data", "max_length"]) ?? where(["preference", "max_completion_tokens"]),
    );
  }
}

function invalid(message: string, hint: string, where: string | undefined): WhetstoneError {
  return new WhetstoneError({ code: "CONFIG_INVALID", message, hint, where });
}
