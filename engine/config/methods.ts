/**
 * The training methods, one row each: what data a method trains on, whether it runs a frozen
 * reference model, whether its loss has an SFT term (goldfish drops tokens from that term), and its
 * settings with their defaults (the `preference` block; sft has none). grpo samples its own
 * completions of prompts and scores them with the config's `rewards`. Every list of methods in the
 * engine and the wizard is read from here; the worker has its own table, checked against
 * tests/fixtures/protocol/tables-v1.json like this one. Free of imports, so the renderer can share it.
 */

export const METHOD_TABLE = {
  sft: { trains: ["chat", "unpaired"], reference: "never", sftTerm: true, settings: null },
  dpo: { trains: ["preference"], reference: "unless precomputed", sftTerm: false, settings: { beta: 0.1, label_smoothing: 0, precompute_reference: false } },
  simpo: { trains: ["preference"], reference: "never", sftTerm: false, settings: { beta: 2.0, gamma_beta_ratio: 0.5 } },
  orpo: { trains: ["preference"], reference: "never", sftTerm: true, settings: { lambda: 0.1 } },
  kto: { trains: ["unpaired"], reference: "always", sftTerm: false, settings: { beta: 0.1, desirable_weight: 1.0, undesirable_weight: 1.0 } },
  // DeepSeekMath's (arXiv 2402.03300) β 0.04, ε 0.2, one update per round; G 8 and 256 completion tokens as TRL;
  // epsilon_high null: the same as epsilon (filled in when the config is resolved).
  grpo: {
    trains: ["prompt", "chat"],
    reference: "unless beta is 0",
    sftTerm: false,
    settings: { beta: 0.04, num_generations: 8, max_completion_tokens: 256, temperature: 1.0, top_p: 1.0, epsilon: 0.2, epsilon_high: null, num_iterations: 1, loss_type: "grpo", scale_rewards: "group" },
  },
} as const satisfies Record<string, MethodRow>;

/** grpo's loss variants and advantage scalings (the worker's losses/grpo.py LOSS_TYPES and SCALE_REWARDS). */
export const GRPO_LOSS_TYPES = ["grpo", "dr_grpo", "bnpo"] as const;
export const GRPO_SCALE_REWARDS = ["group", "batch", "none"] as const;

export interface MethodRow {
  /** The kinds of sample it trains on, its own first (sft on rows labelled good/bad keeps the good ones). */
  trains: readonly ("chat" | "preference" | "unpaired" | "prompt")[];
  /** A frozen copy of the starting model scores every batch (dpo can precompute its scores once instead;
   *  grpo's KL term, which needs it, is off at β 0). */
  reference: "never" | "always" | "unless precomputed" | "unless beta is 0";
  /** Its loss has a next-token (SFT) term, which goldfish drops tokens from. */
  sftTerm: boolean;
  /** The preference block's fields and their defaults; null: the method takes no preference block. */
  settings: Readonly<Record<string, number | boolean | string | null>> | null;
}

type Table = typeof METHOD_TABLE;
export type Method = keyof Table;
type WithSettings = { [M in Method]: Table[M]["settings"] extends null ? never : M }[Method];
type Pair = { [M in Method]: Table[M]["trains"][0] extends "preference" ? M : never }[Method];

export const METHODS = Object.keys(METHOD_TABLE) as [Method, ...Method[]];
/** The methods with a preference block. */
export const PREFERENCE_METHODS = METHODS.filter((m) => METHOD_TABLE[m].settings !== null) as [WithSettings, ...WithSettings[]];
/** The methods that train on (prompt, chosen, rejected) pairs. */
export const PAIR_METHODS = METHODS.filter((m) => METHOD_TABLE[m].trains[0] === "preference") as [Pair, ...Pair[]];
/** Each preference method's settings and their defaults. */
export const PREFERENCE_FIELDS = Object.fromEntries(PREFERENCE_METHODS.map((m) => [m, METHOD_TABLE[m].settings])) as { [M in WithSettings]: NonNullable<Table[M]["settings"]> };

const row = (method: string): MethodRow | undefined => (METHOD_TABLE as Record<string, MethodRow>)[method];
/** The kind of data a method trains on first: conversations, pairs, or rows labelled good/bad. */
export const dataKindFor = (method: string): MethodRow["trains"][number] => row(method)?.trains[0] ?? "chat";
/** Goldfish applies: the method's loss has an SFT term. */
export const hasSftTerm = (method: string): boolean => row(method)?.sftTerm ?? false;
/** The methods whose recipes train on several processes (whetstone_worker/distributed.py): sft and the pair methods, so far. */
export const DISTRIBUTED_METHODS: readonly Method[] = ["sft", "dpo", "simpo", "orpo"];
/** The method trains on several devices (training.devices above 1) or machines. */
export const trainsOnSeveralDevices = (method: string): boolean => (DISTRIBUTED_METHODS as readonly string[]).includes(method);
/** A frozen reference model runs every step. */
export const runsReference = (method: string, settings: { precompute_reference?: boolean | null; beta?: number | null } = {}): boolean => {
  const r = row(method)?.reference;
  return r === "always" || (r === "unless precomputed" && !settings.precompute_reference) || (r === "unless beta is 0" && settings.beta !== 0);
};
