/**
 * Running a sweep: its trials are ordinary runs, created and trained one after another through the
 * engine's own API (so each has its folder, log, metrics and checkpoints, and can be evaluated,
 * exported or resumed like any run). While a trial trains its metrics are watched: at its warm-up
 * step the early-stop rule (./early-stop) reads them and may cancel it (it checkpoints). When the
 * trials are done, the judge compares the finished ones with their base and each other (the
 * engine's compareRuns: Bradley–Terry over the pairwise win rates) and the strongest is the sweep's
 * pick. sweep.json is rewritten after every change, so a sweep killed at any point resumes where it
 * was: a finished trial is kept, the interrupted one resumes from its checkpoint, the rest follow.
 */
import { dirname } from "node:path";
import type { ApiInput } from "../api/contract";
import type { EngineEvent } from "../api/events";
import type { CompareReport } from "../eval/schema";
import type { MetricsRow, RunStore } from "../runs/store";
import type { RunStatus } from "../runs/types";
import { validateConfig } from "../config/load";
import { WhetstoneError } from "../util/errors";
import { diverged, readSignals, rung } from "./early-stop";
import { checkGridFields, describeSettings, expandGrid, trialConfig } from "./grid";
import { formatSweep } from "./report";
import { SweepSpecSchema, type SettingValue, type SweepSpec, type SweepStatus, type Trial } from "./schema";
import type { SweepStore } from "./store";
import { newJobHeader } from "../util/state-store";
import type { SideBySideSlot } from "../api/engine";
import type { DeviceShare } from "../jobs/device-share";
import { sideBySide, stored, type SideBySideHost } from "./side-by-side";

/** What a sweep needs of the engine: its public API, and a share of the device for trials side by side. */
export interface SweepHost extends SideBySideHost {
  readonly store: RunStore;
  createRun(input: ApiInput<"createRun">, side?: SideBySideSlot): Promise<RunStatus>;
  resumeRun(input: { id: string }, side?: SideBySideSlot): RunStatus;
  cancelRun(input: { id: string }): Promise<RunStatus>;
  awaitRun(input: { id: string }): Promise<RunStatus>;
  getMetrics(input: { id: string }): Record<string, number | null>[];
  subscribe(listener: (event: EngineEvent) => void): () => void;
  compareRuns(input: ApiInput<"compareRuns">): Promise<CompareReport>;
}

export interface NewSweep {
  /** The config every trial starts from, without its sweep block, and its folder (relative paths). */
  raw: Record<string, unknown>;
  baseDir: string;
  configPath: string | null;
  name: string;
  /** The file's sweep block (raw), then the caller's overrides of it (a grid's fields are merged). */
  block: unknown;
  overrides: Partial<SweepSpec>;
  lineOf?: (path: PropertyKey[]) => number | undefined;
}

/** The sweep's spec and trials, every trial's config validated; nothing is written or trained yet. */
export function planSweep(input: NewSweep): { spec: SweepSpec; trials: Record<string, SettingValue>[] } {
  const parsed = SweepSpecSchema.safeParse(input.block ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = ["sweep", ...issue.path].join(".");
    const line = input.lineOf?.(["sweep", ...issue.path]);
    throw new WhetstoneError({
      code: "SWEEP_INVALID",
      message: `${field}: ${issue.message}`,
      hint: "Fix the sweep block (`whetstone sweep --help` lists its fields).",
      where: input.configPath ? `${input.configPath}${line ? `:${line}` : ""}` : undefined,
    });
  }
  const { grid: overrideGrid, ...rest } = input.overrides;
  const spec: SweepSpec = { ...parsed.data, ...stripUndefined(rest), grid: { ...parsed.data.grid, ...(overrideGrid ?? {}) } };
  checkGridFields(spec.grid);
  if (Object.keys(spec.grid).length === 0) {
    throw new WhetstoneError({
      code: "SWEEP_GRID_INVALID",
      message: "The sweep has no grid: nothing to vary.",
      hint: "Give fields and values to try, e.g. --grid training.learning_rate=5e-5,1e-4,2e-4 (or a grid in the config's sweep block).",
    });
  }
  if (spec.budget_steps !== null && "training.max_steps" in spec.grid) {
    throw new WhetstoneError({ code: "SWEEP_GRID_INVALID", message: "The grid varies training.max_steps and the step budget sets it too.", hint: "Use one of the two." });
  }
  const trials = expandGrid(spec.grid, spec.random, spec.seed);
  trials.forEach((settings, i) => {
    // A bad value the grid set is shown at its line in the sweep block (when it came from there).
    const lineOf = (path: PropertyKey[]) => (path.join(".") in settings ? input.lineOf?.(["sweep", "grid", path.join(".")]) : input.lineOf?.(path));
    try {
      validateConfig(trialConfig(input.raw, settings, spec, input.name, i + 1), { baseDir: input.baseDir, file: input.configPath ?? undefined, lineOf });
    } catch (e) {
      if (!(e instanceof WhetstoneError)) throw e;
      throw new WhetstoneError({ code: e.code, message: `Trial ${i + 1} of ${trials.length} (${describeSettings(settings)}): ${e.message}`, hint: e.hint, where: e.where, details: e.details });
    }
  });
  const config = validateConfig(trialConfig(input.raw, trials[0]!, spec, input.name, 1), { baseDir: input.baseDir, checkPaths: false });
  const heldOut = config.data.validation !== null || config.data.validation_split > 0;
  if (spec.prompts === null && !heldOut) {
    throw new WhetstoneError({
      code: "SWEEP_INVALID",
      message: "The judge picks the best trial by their answers to prompts none of them trained on, and the config holds none out.",
      hint: "Set data.validation_split (e.g. 0.1) or data.validation (a file) in the config, or give the sweep prompts of its own (a prompt file).",
    });
  }
  if (spec.early_stop === "val") {
    if (!heldOut) {
      throw new WhetstoneError({
        code: "SWEEP_INVALID",
        message: "Early stopping by validation loss needs held-out data, and the config has none.",
        hint: "Set data.validation (a file) or data.validation_split (e.g. 0.1), or stop early by signals.",
      });
    }
  }
  return { spec, trials };
}

export function newSweepStatus(store: SweepStore, input: NewSweep, spec: SweepSpec, trials: Record<string, SettingValue>[]): SweepStatus {
  return {
    ...newJobHeader(store, input),
    spec,
    elapsed_s: 0,
    eta_s: null,
    trials: trials.map((settings, i) => ({
      index: i + 1, settings, run_id: null, state: "pending", reason: null, signals: null, steps: null, total_steps: null, final_loss: null, val_loss: null, saved_steps: 0,
    })),
    side_by_side: null,
    selection: null,
    error: null,
  };
}

/**
 * Train the sweep's remaining trials, then judge. With early stopping: every trial to its warm-up
 * (paused there with a checkpoint), the rung (./early-stop) stops the weak ones, the rest resume to
 * their end. `publish` gets every state written. Resolves with the final state (completed,
 * cancelled, or failed with the error that stopped it).
 */
export async function driveSweep(host: SweepHost, sweeps: SweepStore, id: string, publish: (s: SweepStatus) => void, signal: AbortSignal): Promise<SweepStatus> {
  let status: SweepStatus = sweeps.get(id);
  const started = Date.now();
  const elapsedBefore = status.elapsed_s;
  const save = (patch: Partial<SweepStatus>): SweepStatus => {
    const next = { ...status, ...patch, elapsed_s: elapsedBefore + (Date.now() - started) / 1000 };
    status = sweeps.save({ ...next, eta_s: sweepEta(next) });
    publish(status);
    return status;
  };
  const setTrial = (index: number, patch: Partial<Trial>) => save({ trials: status.trials.map((t) => (t.index === index ? { ...t, ...patch } : t)) });
  const ended = (state: SweepStatus["state"]) => save({ state, owner_pid: null, finished_at: new Date().toISOString() });
  save({ state: "running", owner_pid: process.pid, finished_at: null, error: null });
  const budgetMs = status.spec.budget_minutes !== null ? status.spec.budget_minutes * 60_000 - elapsedBefore * 1000 : null;
  const deadline = budgetMs !== null ? started + budgetMs : null;
  const open = () => status.trials.filter((t) => !DONE.includes(t.state));
  try {
    const { decision, share } = await sideBySide(host, status, open());
    save({ side_by_side: stored(decision) });
    const threads: Record<string, SettingValue> = decision.threads !== null ? { "training.threads": decision.threads } : {};
    const ctx: TrialContext = { host, setTrial, spec: status.spec, sweep: () => status, deadline, signal, share, threads };
    // Up to `slots` trials at a time, each as soon as one before it ends.
    const train = (trials: Trial[], until: "warmup" | "end") =>
      lanes(trials, decision.slots, async (trial) => {
        if (signal.aborted || outOfTime(ctx, trial)) return;
        await runTrial(ctx, trial, until);
      });
    if (status.spec.early_stop !== "off") {
      // The warm-up rung: each trial to its warm-up step (a resumed sweep: those not there yet).
      await train(open().filter((t) => t.signals === null), "warmup");
      if (signal.aborted) return ended("cancelled");
      const ranked = status.trials.filter((t) => t.signals !== null && t.state !== "failed").map((t) => ({ index: t.index, signals: t.signals! }));
      for (const [index, reason] of rung(ranked, status.spec)) {
        const t = status.trials.find((x) => x.index === index)!;
        if (t.state === "paused") setTrial(index, { state: "stopped", reason, saved_steps: Math.max(0, (t.total_steps ?? 0) - (t.steps ?? 0)) });
      }
    }
    await train(open(), "end");
    if (signal.aborted) return ended("cancelled");
    save({ state: "judging" });
    const selection = await select(host, status, signal);
    save({ selection });
    sweeps.saveReport(status.id, formatSweep(status));
    return ended("completed");
  } catch (e) {
    if (signal.aborted) return ended("cancelled");
    const err = e instanceof WhetstoneError ? e : new WhetstoneError({ code: "SWEEP_FAILED", message: String(e), hint: "See the sweep's trials and their runs' logs." });
    save({ error: { code: err.code, message: err.message, hint: err.hint } });
    return ended("failed");
  }
}

const DONE: Trial["state"][] = ["completed", "stopped", "failed", "skipped"];
const STEP_SAVE_MS = 5000;

/**
 * Seconds left: the sweep's seconds per trained step so far (model loads and judging included) times
 * the steps still planned. With early stopping, a trial not yet at its warm-up still has its warm-up
 * to train, and of the rest only the share the rung keeps (1 − stop_fraction) is counted. null until
 * a step was trained.
 */
export function sweepEta(s: Pick<SweepStatus, "trials" | "spec" | "elapsed_s" | "state">): number | null {
  if (DONE_SWEEP.includes(s.state)) return 0;
  const trained = s.trials.reduce((a, t) => a + (t.steps ?? 0), 0);
  if (trained === 0) return null;
  const known = s.trials.map((t) => t.total_steps).filter((n): n is number => n !== null);
  const typical = known.length ? known.reduce((a, b) => a + b, 0) / known.length : (s.spec.budget_steps ?? 0);
  const early = s.spec.early_stop !== "off";
  const left = s.trials.reduce((a, t) => {
    if (DONE.includes(t.state)) return a;
    const total = t.total_steps ?? typical;
    const done = t.steps ?? 0;
    if (!early || t.signals !== null) return a + Math.max(0, total - done);
    const warm = Math.max(1, Math.ceil(s.spec.warmup * total));
    return a + Math.max(0, warm - done) + (total - warm) * (1 - s.spec.stop_fraction);
  }, 0);
  return Math.round((s.elapsed_s / trained) * left);
}

const DONE_SWEEP: SweepStatus["state"][] = ["completed", "failed", "cancelled"];

interface TrialContext {
  host: SweepHost;
  setTrial: (index: number, patch: Partial<Trial>) => void;
  spec: SweepSpec;
  sweep: () => SweepStatus;
  deadline: number | null;
  signal: AbortSignal;
  /** The share of the device the trials start in when several train at once. */
  share: DeviceShare | undefined;
  /** Config fields set for how the trials train (training.threads when they share a CPU). */
  threads: Record<string, SettingValue>;
}

/**
 * Run `each` over `items`, at most `width` at a time, in order. A lane that throws takes no more
 * items, the others finish theirs; the first error is rethrown once all have settled.
 */
export async function lanes<T>(items: readonly T[], width: number, each: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  const errors: unknown[] = [];
  const lane = async () => {
    for (let item = queue.shift(); item !== undefined && errors.length === 0; item = queue.shift()) {
      try {
        await each(item);
      } catch (e) {
        errors.push(e);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(width, queue.length)) }, lane));
  if (errors.length > 0) throw errors[0];
}

/** Past the time budget: a trial not started is skipped, one paused at its warm-up is stopped there. */
function outOfTime(ctx: TrialContext, trial: Trial): boolean {
  if (ctx.deadline === null || Date.now() < ctx.deadline) return false;
  const why = `the sweep's time budget (${ctx.spec.budget_minutes} min) was spent`;
  if (trial.run_id === null) ctx.setTrial(trial.index, { state: "skipped", reason: `not trained: ${why}` });
  else ctx.setTrial(trial.index, { state: "stopped", reason: why, saved_steps: Math.max(0, (trial.total_steps ?? 0) - (trial.steps ?? 0)) });
  return true;
}

/**
 * Train one trial's run (created, or resumed from its checkpoint) until its warm-up step (`warmup`:
 * its signals are read, then it pauses with a checkpoint, or stops for a diverging loss) or to its end.
 */
async function runTrial(ctx: TrialContext, trial: Trial, until: "warmup" | "end"): Promise<void> {
  const { host, setTrial, spec, signal } = ctx;
  let runId = trial.run_id;
  let stopReason: string | null = null;
  let pausing = false;
  let stopping: Promise<unknown> | null = null;
  const halt = () => {
    if (!stopping && runId !== null) stopping = host.cancelRun({ id: runId }).catch(() => undefined);
  };
  const rows: MetricsRow[] = [];
  let total: number | null = trial.total_steps;
  let lastStepSaved = Date.now();
  const watch = () => {
    if (until !== "warmup" || pausing || stopReason !== null || total === null) return;
    const signals = readSignals(rows, total, spec);
    if (!signals) return;
    setTrial(trial.index, { signals });
    const why = diverged(signals, spec);
    if (why) stopReason = why;
    else pausing = true;
    halt();
  };
  const unsubscribe = host.subscribe((e) => {
    if (runId === null) return;
    if (e.type === "run" && e.run.id === runId) total = e.run.total_steps ?? total;
    if (e.type === "metrics" && e.runId === runId) {
      rows.push(e.row);
      if (typeof e.row.total_steps === "number") total = e.row.total_steps;
      // The trial's step in the sweep's state (and its ETA), every few seconds rather than every step.
      if (Date.now() - lastStepSaved > STEP_SAVE_MS) {
        lastStepSaved = Date.now();
        setTrial(trial.index, { steps: e.row.step, total_steps: total });
      }
      watch();
    }
  });
  const onAbort = () => halt();
  signal.addEventListener("abort", onAbort);
  const timer = ctx.deadline !== null ? setTimeout(() => ((stopReason = `the sweep's time budget (${spec.budget_minutes} min) was spent`), halt()), Math.max(0, ctx.deadline - Date.now())) : null;
  try {
    if (runId === null) {
      const sweep = ctx.sweep();
      const run = await host.createRun({ config: trialConfig(sweep.base_config, trial.settings, spec, sweep.name, trial.index, ctx.threads), baseDir: sweep.base_dir }, { share: ctx.share });
      runId = run.id;
      total = run.total_steps ?? total;
      setTrial(trial.index, { run_id: runId, state: "running", total_steps: run.total_steps });
    } else {
      const run = host.store.get(runId);
      rows.push(...(host.getMetrics({ id: runId }) as MetricsRow[]));
      total = run.total_steps ?? total;
      watch(); // a run cut after its warm-up step (the sweep was killed) is judged from its metrics
      if (run.state !== "completed" && !pausing && stopReason === null) await resumeWhenStopped(host, runId, ctx.share);
      setTrial(trial.index, { state: "running" });
    }
    const final = await host.awaitRun({ id: runId });
    if (stopping) await stopping;
    const done = host.store.get(runId);
    const val = [...host.getMetrics({ id: runId })].reverse().find((r) => typeof r.val_loss === "number")?.val_loss ?? null;
    const figures = { steps: done.step, total_steps: done.total_steps, final_loss: done.last_loss, val_loss: val };
    const unfinished = Math.max(0, (done.total_steps ?? done.step) - done.step);
    if (final.state === "completed") setTrial(trial.index, { ...figures, state: "completed", reason: null });
    else if (signal.aborted) setTrial(trial.index, { ...figures, state: "running" }); // resumed with the sweep
    // Cancelled by us, or found cut after its warm-up when the sweep resumed (interrupted).
    else if (final.state !== "failed" && stopReason !== null) setTrial(trial.index, { ...figures, state: "stopped", reason: stopReason, saved_steps: unfinished });
    else if (final.state !== "failed" && pausing) setTrial(trial.index, { ...figures, state: "paused" });
    // Its run cancelled by hand (its own page): the sweep takes that as a stop and goes on.
    else if (final.state === "cancelled") setTrial(trial.index, { ...figures, state: "stopped", reason: "its run was cancelled by hand", saved_steps: unfinished });
    else setTrial(trial.index, { ...figures, state: "failed", reason: final.error ? `${final.error.message} (${final.error.code})` : `the run ended ${final.state}` });
  } catch (e) {
    if (!(e instanceof WhetstoneError) || signal.aborted) throw e;
    // A trial that cannot start (its data, its preflight) fails alone; the sweep goes on.
    setTrial(trial.index, { state: "failed", reason: `${e.message} (${e.code})` });
  } finally {
    unsubscribe();
    signal.removeEventListener("abort", onAbort);
    if (timer) clearTimeout(timer);
  }
}

/** resumeRun, retried while the run's old worker is still writing its last checkpoint (RUN_ACTIVE). */
async function resumeWhenStopped(host: SweepHost, runId: string, share: DeviceShare | undefined): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      host.resumeRun({ id: runId }, { share });
      return;
    } catch (e) {
      if ((e as WhetstoneError).code !== "RUN_ACTIVE" || i >= 120) throw e;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** The judge's pick among the finished trials (two or more: compared; one: it; none: why not). */
async function select(host: SweepHost, sweep: SweepStatus, signal: AbortSignal): Promise<NonNullable<SweepStatus["selection"]>> {
  const finished = sweep.trials.filter((t) => t.state === "completed" && t.run_id !== null);
  const none = { ranking: [], matches: [] };
  if (finished.length === 0) return { ...none, best_run: null, best_trial: null, note: "No trial finished, so there is nothing to pick from." };
  if (finished.length === 1) return { ...none, best_run: finished[0]!.run_id, best_trial: finished[0]!.index, note: "One trial finished: it is the pick, without a comparison." };
  if (signal.aborted) throw new WhetstoneError({ code: "CANCELLED", message: "The sweep was cancelled.", hint: "Resume it to judge its trials." });
  const { judge, judge_model: judgeModel, prompts, limit, max_new_tokens: maxNewTokens, resamples } = sweep.spec;
  const report = await host.compareRuns({ ids: finished.map((t) => t.run_id!), judge, judgeModel, prompts, limit, maxNewTokens, resamples });
  const best = finished.find((t) => t.run_id === report.best) ?? null;
  return {
    best_run: best?.run_id ?? null,
    best_trial: best?.index ?? null,
    ranking: report.ranking.map((r) => ({ label: r.label, run_id: r.run_id, strength: r.strength, rank: r.rank })),
    matches: report.matches.map((m) => ({
      model: m.model, baseline: m.baseline, win_rate: m.summary.win_rate, lc_win_rate: m.summary.lc_win_rate, lc_low: m.summary.lc_win_rate_ci.low, lc_high: m.summary.lc_win_rate_ci.high, n: m.summary.n,
    })),
    note: null,
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The folder relative paths of a config object are resolved against: the file's, else the caller's. */
export function baseDirOf(configPath: string | null, baseDir: string | undefined): string {
  return configPath ? dirname(configPath) : (baseDir ?? process.cwd());
}
