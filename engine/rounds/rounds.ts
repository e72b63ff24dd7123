/**
 * Driving a rounds loop (ALMA's self-bootstrapping, issue #18): round r synthesizes data with the
 * current model (round 1: the config's model, or the finished run the loop starts from; then the
 * previous round's model), trains a run on it
 * chained from the previous round's (init_from: lineage), with the dpo option makes preference pairs
 * of the judged answers (./pairs) and trains a DPO run chained from that SFT run (then the round's
 * model), and the judge compares the round's model with the base model and with the round before, on
 * the same evaluation prompts every round. The loop stops when a round stops winning (./stop), or
 * after the last round.
 *
 * Everything goes through the engine's public API, as the sweep does (synthData, createRun,
 * awaitRun, evalRun), so each round's data, run and reports are what a user would get by hand.
 * rounds.json is rewritten at every change, and each phase checks what is already done, so a loop
 * killed anywhere resumes: the synthesis continues its file (synthData appends and resumes), a cut
 * run resumes from its checkpoint, and an evaluation cut short is done again (its answers, stored
 * in the runs, are reused).
 */
import type { ApiInput } from "../api/contract";
import type { EvalReport } from "../eval/schema";
import type { RunStore } from "../runs/store";
import type { RunStatus } from "../runs/types";
import type { SynthReport } from "../synth/schema";
import { WhetstoneError } from "../util/errors";
import { dpoConfig, roundConfig, synthOptions, type NewRounds, type RoundsPlan } from "./plan";
import { writeRoundPairs } from "./pairs";
import { formatRounds } from "./report";
import { roundModel, type Match, type Round, type RoundsStatus } from "./schema";
import { bestRound, verdict } from "./stop";
import type { RoundsStore } from "./store";
import { newJobHeader } from "../util/state-store";

/** What a rounds loop needs of the engine: its public API. */
export interface RoundsHost {
  readonly store: RunStore;
  synthData(input: ApiInput<"synthData">): Promise<SynthReport>;
  cancelSynth(input: { out: string }): { cancelled: boolean };
  createRun(input: ApiInput<"createRun">): Promise<RunStatus>;
  resumeRun(input: { id: string }): RunStatus;
  cancelRun(input: { id: string }): Promise<RunStatus>;
  awaitRun(input: { id: string }): Promise<RunStatus>;
  evalRun(input: ApiInput<"evalRun">): Promise<EvalReport>;
  cancelEval(input: { id: string }): { cancelled: boolean };
}

export function newRoundsStatus(store: RoundsStore, input: NewRounds, plan: RoundsPlan): RoundsStatus {
  return {
    ...newJobHeader(store, input),
    spec: plan.spec,
    prompts: plan.prompts,
    base_model: plan.baseModel,
    start_run: null,
    rounds: [],
    stopped: null,
    best_round: null,
    elapsed_s: 0,
    error: null,
  };
}

/** Go on with the loop from where its state says it is; `publish` gets every state written. Resolves with the final state. */
export async function driveRounds(host: RoundsHost, store: RoundsStore, id: string, publish: (s: RoundsStatus) => void, signal: AbortSignal): Promise<RoundsStatus> {
  let status = store.get(id);
  const started = Date.now();
  const elapsedBefore = status.elapsed_s;
  const save = (patch: Partial<RoundsStatus>): RoundsStatus => {
    status = store.save({ ...status, ...patch, elapsed_s: elapsedBefore + (Date.now() - started) / 1000 });
    publish(status);
    return status;
  };
  const setRound = (index: number, patch: Partial<Round>) => save({ rounds: status.rounds.map((r) => (r.index === index ? { ...r, ...patch } : r)) });
  const ended = (state: RoundsStatus["state"]) => {
    save({ state, owner_pid: null, finished_at: new Date().toISOString() });
    store.saveReport(status.id, formatRounds(status));
    return status;
  };
  save({ state: "running", owner_pid: process.pid, finished_at: null, error: null });
  try {
    for (let r = 1; r <= status.spec.rounds; r++) {
      if (signal.aborted) return ended("cancelled");
      const previous = status.rounds.find((x) => x.index === r - 1) ?? null;
      if (!status.rounds.some((x) => x.index === r)) {
        const from = previous ? roundModel(previous) : status.start_run;
        const round: Round = {
          index: r, state: "pending", synth_from: from ?? status.base_model, data: store.dataFile(status.id, r), rows: null, synth_complete: null, candidates: null,
          run_id: null, parent_run: from, pairs: null, pair_rows: null, pairs_dropped: null, dpo_run_id: null, vs_base: null, vs_previous: null, reason: null,
        };
        save({ rounds: [...status.rounds, round] });
      }
      const current = () => status.rounds.find((x) => x.index === r)!;
      if (current().state !== "done") {
        const phase = { host, status: () => status, round: current, setRound, signal };
        const dpo = status.spec.dpo !== null ? [...(current().dpo_run_id === null ? [pair] : []), trainDpo] : [];
        const phases = [...(current().run_id === null ? [synthesize] : []), train, ...dpo, evaluate];
        for (const run of phases) {
          if (signal.aborted) return ended("cancelled");
          await run(phase);
        }
      }
      const v = verdict(current(), status.spec);
      setRound(r, { state: "done", reason: v.won ? null : v.reason });
      if (v.stop) {
        save({ stopped: v.reason, best_round: bestRound(status.rounds, status.spec) });
        return ended("completed");
      }
    }
    return ended("completed"); // not reached: the last round's verdict stops the loop
  } catch (e) {
    if (signal.aborted) return ended("cancelled");
    const err = e instanceof WhetstoneError ? e : new WhetstoneError({ code: "ROUNDS_FAILED", message: String(e), hint: "See the round's run and its log; resume the rounds once it is fixed." });
    const open = status.rounds.find((x) => x.state !== "done");
    if (open) setRound(open.index, { state: "failed", reason: `${err.message} (${err.code})` });
    save({ error: { code: err.code, message: err.message, hint: err.hint } });
    return ended("failed");
  }
}

interface Phase {
  host: RoundsHost;
  status: () => RoundsStatus;
  round: () => Round;
  setRound: (index: number, patch: Partial<Round>) => void;
  signal: AbortSignal;
}

/** Calls `stop` when the loop is cancelled while `work` runs. */
async function cancellable<T>(signal: AbortSignal, stop: () => void, work: () => Promise<T>): Promise<T> {
  const onAbort = () => stop();
  signal.addEventListener("abort", onAbort);
  try {
    return await work();
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/** The round's data, with the current model; a file cut short is continued. */
async function synthesize({ host, status, round, setRound, signal }: Phase): Promise<void> {
  const r = round();
  setRound(r.index, { state: "synthesizing" });
  const s = status();
  const options = synthOptions(s.spec, { baseDir: s.base_dir, prompts: s.prompts, out: r.data, model: s.base_model, run: r.parent_run, round: r.index });
  const report = await cancellable(signal, () => void host.cancelSynth({ out: r.data }), () => host.synthData(options));
  setRound(r.index, { rows: report.rows, synth_complete: report.complete, candidates: report.next_index });
  if (report.rows === 0) {
    throw new WhetstoneError({
      code: "ROUNDS_NO_DATA",
      message: `Round ${r.index}'s synthesis wrote no rows after ${report.candidates} candidates (filtered: ${Object.entries(report.filtered).map(([k, n]) => `${k} ${n}`).join(", ")}).`,
      hint: "Loosen the synth options of the rounds block (filters, max_new_tokens, prompt_tokens, max_candidates), then resume the rounds.",
      where: r.data,
    });
  }
}

/** The round's SFT run: created chained from the previous round's model, or, cut earlier, resumed from its checkpoint. */
async function train(phase: Phase): Promise<void> {
  const r = phase.round();
  phase.setRound(r.index, { state: "training" });
  await trainRun(phase, "run_id", () => {
    const s = phase.status();
    return roundConfig(s.base_config, { name: s.name, index: r.index, data: r.data, parentRun: r.parent_run });
  });
}

/** The round's preference pairs from its judged answers (the dpo option); none above the margin stops the loop with what to change. */
async function pair({ status, round, setRound }: Phase): Promise<void> {
  const r = round();
  setRound(r.index, { state: "pairing" });
  const dpo = status().spec.dpo!;
  const out = r.data.replace(/\.jsonl$/, "-pairs.jsonl");
  const made = writeRoundPairs(r.data, out, dpo.min_margin);
  setRound(r.index, { pairs: out, pair_rows: made.rows, pairs_dropped: made.below_margin + made.unjudged });
  if (made.rows === 0) {
    throw new WhetstoneError({
      code: "ROUNDS_NO_PAIRS",
      message: `Round ${r.index}'s ${r.rows ?? 0} rows gave no preference pair: ${made.below_margin} had best and worst answers within the margin ${dpo.min_margin}, ${made.unjudged} had fewer than two judged answers.`,
      hint: "Lower rounds.dpo.min_margin, or give the judge more answers to choose from (rounds.synth.responses, response_temperatures), then resume the rounds.",
      where: r.data,
    });
  }
}

/** The round's DPO run, chained from its SFT run, on its pairs; then the round's model. */
async function trainDpo(phase: Phase): Promise<void> {
  const r = phase.round();
  phase.setRound(r.index, { state: "dpo" });
  await trainRun(phase, "dpo_run_id", () => {
    const s = phase.status();
    return dpoConfig(s.base_config, { name: s.name, index: r.index, pairs: r.pairs!, sftRun: r.run_id, dpo: s.spec.dpo! });
  });
}

/** A round's run (`field`: its SFT or DPO run): created from `config`, or, cut earlier, resumed from its checkpoint; waits for it to complete. */
async function trainRun({ host, status, round, setRound, signal }: Phase, field: "run_id" | "dpo_run_id", config: () => Record<string, unknown>): Promise<void> {
  const r = round();
  let runId = r[field];
  if (runId === null) {
    runId = (await host.createRun({ config: config(), baseDir: status().base_dir })).id;
    setRound(r.index, { [field]: runId });
  } else if (host.store.get(runId).state !== "completed") {
    await resumeWhenStopped(host, runId);
  }
  const id = runId;
  const final = await cancellable(signal, () => void host.cancelRun({ id }).catch(() => undefined), () => host.awaitRun({ id }));
  if (final.state === "completed") return;
  if (signal.aborted) throw cancelled();
  throw new WhetstoneError({
    code: "ROUNDS_RUN_FAILED",
    message: `Round ${r.index}'s ${field === "dpo_run_id" ? "DPO " : ""}run ${id} ended ${final.state}${final.error ? `: ${final.error.message} (${final.error.code})` : ""}.`,
    hint: final.error?.hint ?? "See the run's log (`whetstone show RUN`); resume the rounds to resume it.",
  });
}

/** The judge's matches: the round's model against the base and against the model it was trained from (the previous round's, or the run the loop started from). */
async function evaluate({ host, status, round, setRound, signal }: Phase): Promise<void> {
  const r = round();
  setRound(r.index, { state: "evaluating", vs_base: null, vs_previous: null });
  const s = status();
  const id = roundModel(r)!;
  const judging = { prompts: s.prompts, judge: s.spec.judge, limit: s.spec.limit, maxNewTokens: s.spec.max_new_tokens };
  const match = async (against: string): Promise<Match> => {
    if (signal.aborted) throw cancelled();
    const report = await cancellable(signal, () => void host.cancelEval({ id }), () => host.evalRun({ id, against, ...judging }));
    const m = report.summary;
    return { against, n: m.n, win_rate: m.win_rate, lc_win_rate: m.lc_win_rate, lc_low: m.lc_win_rate_ci.low, lc_high: m.lc_win_rate_ci.high };
  };
  setRound(r.index, { vs_base: await match("base") });
  if (r.parent_run !== null) setRound(r.index, { vs_previous: await match(r.parent_run) });
}

const cancelled = () => new WhetstoneError({ code: "CANCELLED", message: "The rounds were cancelled.", hint: "Resume them to go on." });

/** resumeRun, retried while the run's old worker is still writing its last checkpoint (RUN_ACTIVE). */
async function resumeWhenStopped(host: RoundsHost, runId: string): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      host.resumeRun({ id: runId });
      return;
    } catch (e) {
      if ((e as WhetstoneError).code !== "RUN_ACTIVE" || i >= 120) throw e;
      await new Promise((res) => setTimeout(res, 500));
    }
  }
}
