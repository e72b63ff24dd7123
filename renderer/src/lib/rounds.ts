/**
 * A round loop in the app's words: each round's state and how it ended, what the loop is doing now
 * (and which progress key follows it: the synthesis's file or the run training or being judged), the
 * win rates as the table shows them, the points of the win-rate curve, and the request that starts
 * rounds from a finished run.
 */
import type { ApiInput } from "../../../engine/api/contract";
import type { ProgressInfo } from "../../../engine/api/events";
import { roundModel, type Match, type Round, type RoundsStatus, type RunStatus } from "../../../engine/api/public";
import type { ChartSeries } from "../components/LineChart";

/** Win rates come in percent (0–100), as in evaluation reports. */
const pct = (v: number) => `${v.toFixed(1)}%`;

export function matchInWords(m: Match | null): { rate: string; ci: string } | null {
  return m === null ? null : { rate: pct(m.lc_win_rate), ci: `${pct(m.lc_low)} – ${pct(m.lc_high)}` };
}

const PHASES: Record<string, string> = {
  pending: "waiting",
  synthesizing: "writing its data",
  training: "training",
  pairing: "making preference pairs",
  dpo: "preference training (DPO)",
  evaluating: "being judged",
};

/** A round's state as a label, and why (a round that did not win, or failed). */
export function roundState(r: Round, loop: Pick<RoundsStatus, "best_round">): { label: string; reason: string | null } {
  if (r.state === "done") {
    if (loop.best_round === r.index) return { label: "won: the best round", reason: null };
    return r.reason ? { label: "did not win", reason: r.reason } : { label: "won", reason: null };
  }
  if (r.state === "failed") return { label: "failed", reason: r.reason };
  return { label: PHASES[r.state] ?? r.state, reason: null };
}

export interface Now {
  round: Round;
  /** The phase in words: "Round 2 of up to 3: training run X". */
  text: string;
  /** The store's progress key for the phase (synth:<file> or a run id), or null. */
  progressKey: string | null;
  /** The run training now, when a run trains (its step and ETA come with `run` events too). */
  runId: string | null;
}

/** What a running loop does now: its open round's phase, and where its progress is. */
export function loopNow(loop: RoundsStatus): Now | null {
  if (loop.state !== "running") return null;
  const round = [...loop.rounds].reverse().find((r) => r.state !== "done" && r.state !== "failed");
  if (!round) return null;
  const head = `Round ${round.index} of up to ${loop.spec.rounds}`;
  const from = round.index > 1 ? `round ${round.index - 1}'s model` : round.parent_run ? "the run the rounds started from" : "the base model";
  switch (round.state) {
    case "synthesizing":
      return { round, text: `${head}: ${from} writes ${String(loop.spec.synth.n ?? "")} rows of training data`, progressKey: `synth:${round.data}`, runId: null };
    case "training":
      return { round, text: `${head}: training on ${round.rows ?? "its"} rows`, progressKey: round.run_id, runId: round.run_id };
    case "pairing":
      return { round, text: `${head}: making preference pairs of the judged answers`, progressKey: null, runId: null };
    case "dpo":
      return { round, text: `${head}: preference training (DPO) on ${round.pair_rows ?? "the"} pairs`, progressKey: round.dpo_run_id, runId: round.dpo_run_id };
    case "evaluating":
      return { round, text: `${head}: the judge compares it with the base model${round.index > 1 ? " and the round before" : round.parent_run ? " and the run the rounds started from" : ""}`, progressKey: roundModel(round), runId: null };
    default:
      return { round, text: `${head}: starting`, progressKey: null, runId: null };
  }
}

/** The win-rate curve: each judged round's LC win rate against the base and against the round before (round 1's "before": the run the rounds started from, else the base), each with its 95% CI as a band, and the stop threshold. */
export function winRateSeries(loop: RoundsStatus): ChartSeries[] {
  const judged = loop.rounds.filter((r) => r.vs_base !== null);
  const vsPrevious = judged.map((r) => ({ r, m: r.parent_run === null ? r.vs_base : r.vs_previous })).filter((x): x is { r: Round; m: Match } => x.m !== null);
  const band = (m: Match) => ({ low: m.lc_low, high: m.lc_high });
  const series: ChartSeries[] = [
    { label: "vs the base model", points: judged.map((r) => ({ x: r.index, y: r.vs_base!.lc_win_rate })), bands: judged.map((r) => band(r.vs_base!)) },
    { label: "vs the round before", points: vsPrevious.map(({ r, m }) => ({ x: r.index, y: m.lc_win_rate })), bands: vsPrevious.map(({ m }) => band(m)) },
  ];
  if (judged.length > 0) {
    const xs = [1, Math.max(loop.spec.rounds, judged.at(-1)!.index)];
    const rule = loop.spec.stop_metric === "lc_ci_low" ? `goes on while the interval's low end is above ${loop.spec.stop_threshold}%` : `goes on above ${loop.spec.stop_threshold}%`;
    series.push({ label: rule, points: xs.map((x) => ({ x, y: loop.spec.stop_threshold })), dashed: true });
  }
  return series;
}

/**
 * A training run's progress as a progress bar shows it: while it trains its steps and time left come
 * with its status (`run` events); before (loading the model, reading the data) its own progress events do.
 */
export function trainingProgress(run: RunStatus | undefined, event: ProgressInfo | undefined, now = Date.now()): ProgressInfo | undefined {
  if (!run || run.phase !== "train" || !run.total_steps) return event;
  const elapsed = run.started_at ? (now - Date.parse(run.started_at)) / 1000 : 0;
  return { phase: "train", current: run.step, total: run.total_steps, unit: "steps", elapsed_s: elapsed, eta_s: run.eta_s, message: run.last_loss !== null ? `loss ${run.last_loss.toPrecision(4)}` : "" };
}

/** The "Improve with rounds" form of a finished run: how many rounds, rows each round, DPO after each SFT. */
export interface RoundsForm {
  rounds: string;
  rows: string;
  dpo: boolean;
}

export const DEFAULT_ROUNDS_FORM: RoundsForm = { rounds: "3", rows: "200", dpo: false };

/**
 * The startRounds request that improves a finished run: its config (the same base model and settings,
 * trained as SFT on each round's data) starting from the run, whose model writes round 1's data and
 * is the one round 1 must beat; the model writes its own instructions (Magpie). With DPO, each prompt
 * gets two answers for the judge to pair. `problems` says in words what to fix first.
 */
export function roundsRequest(
  form: RoundsForm,
  judging: { judge: string; prompts: string; limit: number; answerTokens: number },
  run: { id: string; name: string; base: string },
  config: Record<string, unknown>,
): { request: ApiInput<"startRounds">; problems: string[] } {
  const problems: string[] = [];
  const whole = (text: string, label: string, max: number) => {
    const n = Number(text);
    if (!(Number.isInteger(n) && n >= 1 && n <= max)) problems.push(`${label}: give a whole number from 1 to ${max}.`);
    return n;
  };
  const rounds = whole(form.rounds, "Rounds at most", 100);
  const rows = whole(form.rows, "Rows each round", 100_000);
  const data = (config.data ?? {}) as { validation?: string | null };
  if (!judging.prompts.trim() && !data.validation) problems.push("Every round is judged on the same prompts, which it never trains on: give a prompt file.");
  const { rewards: _rewards, ...rest } = config;
  const request: ApiInput<"startRounds"> = {
    config: { ...rest, name: `${run.name.slice(0, 50)}-rounds`, method: "sft", preference: null, init_from: run.id, model: { ...(config.model as object), path: run.base } },
    spec: {
      rounds,
      synth: { method: "magpie", n: rows, ...(form.dpo ? { responses: 2 } : {}) },
      judge: judging.judge.trim() || null,
      prompts: judging.prompts.trim() || null,
      limit: judging.limit,
      max_new_tokens: judging.answerTokens,
      ...(form.dpo ? { dpo: { min_margin: 0.1, preference: {}, training: {} } } : {}),
    },
  };
  return { request, problems };
}
