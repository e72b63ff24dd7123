/** `whetstone sweep` and `whetstone sweeps`: start or resume a sweep and follow it, list or show sweeps. */
import type { SweepSpec, SweepStatus } from "../sweep/schema";
import { describeSettings, parseGridFlag } from "../sweep/grid";
import { ended, formatSweep } from "../sweep/report";
import { WhetstoneError } from "../util/errors";
import { defined } from "./commands";
import { EXIT, type Client, type Io } from "./io";
import { RunProgress } from "./progress";
import { duration, table } from "./format";

export interface SweepValues {
  json?: boolean;
  verbose?: boolean;
  grid?: string[];
  random?: number;
  seed?: number;
  "budget-steps"?: number;
  "budget-minutes"?: number;
  "early-stop"?: SweepSpec["early_stop"];
  parallel?: string;
  judge?: string;
  prompts?: string;
  limit?: number;
  "max-tokens"?: number;
  "judge-model"?: string;
  resamples?: number;
  resume?: string;
}

export async function sweepCommand(engine: Client, configPath: string | undefined, io: Io, v: SweepValues): Promise<number> {
  if ((configPath === undefined) === (v.resume === undefined)) {
    throw new WhetstoneError({ code: "USAGE", message: "`whetstone sweep` needs a config file, or --resume and a sweep (not both).", hint: "e.g. whetstone sweep examples/tiny-sft.yaml --grid training.learning_rate=1e-4,3e-4" });
  }
  const follow = followSweep(engine, io, v);
  let sweep: SweepStatus;
  try {
    if (v.resume !== undefined) sweep = await engine.call("resumeSweep", { id: v.resume });
    else {
      const grid = Object.fromEntries((v.grid ?? []).map(parseGridFlag));
      const spec = defined({
        grid: v.grid ? grid : undefined, random: v.random, seed: v.seed, budget_steps: v["budget-steps"], budget_minutes: v["budget-minutes"],
        early_stop: v["early-stop"], parallel: parallelFlag(v.parallel), judge: v.judge, prompts: v.prompts, limit: v.limit, max_new_tokens: v["max-tokens"],
        judge_model: v["judge-model"], resamples: v.resamples,
      }) as Partial<SweepSpec>;
      sweep = await engine.call("startSweep", { configPath: configPath!, spec });
    }
  } finally {
    follow.ready();
  }
  follow.start(sweep);
  io.onInterrupt(() => {
    follow.line("Cancelling the sweep: the running trial stops with a checkpoint (resume with: whetstone sweep --resume " + sweep.id + ").");
    void engine.call("cancelSweep", { id: sweep.id });
  });
  const final = await engine.call("awaitSweep", { id: sweep.id });
  follow.finish();
  io.out.write((v.json ? JSON.stringify(final, null, 2) : summary(final)) + "\n");
  if (final.state === "completed") return EXIT.ok;
  return final.state === "cancelled" ? EXIT.cancelled : EXIT.failed;
}

/** --parallel: auto or a whole number, 1 or more. */
function parallelFlag(text: string | undefined): SweepSpec["parallel"] | undefined {
  if (text === undefined) return undefined;
  const t = text.trim().toLowerCase();
  if (t === "auto") return "auto";
  if (/^\d+$/.test(t) && Number(t) >= 1) return Number(t);
  throw new WhetstoneError({ code: "USAGE", message: `--parallel: expected auto or a whole number (1 or more), got '${text}'.`, hint: "e.g. --parallel 2 (at most two trials at once), --parallel 1 (one after another), or --parallel auto." });
}

/** Prints each trial's start and end (and, verbose, its progress) as the sweep's events come. */
function followSweep(engine: Client, io: Io, v: SweepValues) {
  let id: string | null = null;
  let progress: RunProgress | null = null;
  /** The run the progress follows (with trials side by side: the one that started last). */
  let following: string | null = null;
  let sideBySide = "";
  let judging = false;
  const seen = new Map<number, string>();
  const early: SweepStatus[] = [];
  const line = (text: string) => (progress ? progress.line(text) : io.out.write(text + "\n"));
  const stopFollowing = (runId: string | null) => {
    if (runId !== following) return;
    progress?.finish();
    progress = null;
    following = null;
  };
  const onSweep = (s: SweepStatus) => {
    if (s.side_by_side && s.side_by_side.text !== sideBySide && s.state === "running") {
      sideBySide = s.side_by_side.text;
      line(`trials: ${sideBySide}`);
    }
    for (const t of s.trials) {
      const key = `${t.state}:${t.run_id}:${t.signals ? 1 : 0}`;
      if (seen.get(t.index) === key) continue;
      const before = seen.get(t.index);
      seen.set(t.index, key);
      if (before === undefined && t.state === "pending") continue;
      const head = `trial ${t.index}/${s.trials.length} (${describeSettings(t.settings)})`;
      if (t.state === "running" && t.run_id && !before?.startsWith("running")) {
        // A paused trial resuming to its end says so; a new one names its run.
        progress?.finish();
        progress = new RunProgress(t.run_id, io.out, v.verbose);
        following = t.run_id;
        line(before?.startsWith("paused") ? `${head}: resumes ${t.run_id} to its end` : `${head}: run ${t.run_id}`);
      } else if (t.state === "paused" && t.signals) {
        stopFollowing(t.run_id);
        line(`${head}: read at step ${t.signals.step} (loss ${fmt(t.signals.loss)}, mean gradient norm ${fmt(t.signals.grad_norm)}${t.signals.val_loss !== null ? `, validation loss ${fmt(t.signals.val_loss)}` : ""}); paused until every trial has been read`);
      } else if (["completed", "stopped", "failed", "skipped"].includes(t.state)) {
        stopFollowing(t.run_id);
        line(`${head}: ${ended(t)}${t.final_loss !== null ? ` (loss ${fmt(t.final_loss)} at step ${t.steps})` : ""}${s.eta_s ? `; the sweep: about ${duration(s.eta_s)} left` : ""}`);
      }
    }
    if (s.state === "judging" && !judging && (judging = true)) line(`judging the ${s.trials.filter((t) => t.state === "completed").length} finished trials against their base and each other…`);
  };
  engine.subscribe((e) => {
    if (e.type === "sweep") {
      if (id === null) early.push(e.sweep);
      else if (e.sweep.id === id) onSweep(e.sweep);
    } else progress?.handle(e);
  });
  return {
    ready: () => undefined,
    start: (s: SweepStatus) => {
      id = s.id;
      io.out.write(`sweep ${s.id}: ${s.trials.length} trials, early stop ${s.spec.early_stop}${s.spec.budget_steps ? `, ${s.spec.budget_steps} steps each` : ""}${s.spec.budget_minutes ? `, ${s.spec.budget_minutes} min in all` : ""}\n`);
      for (const e of early.filter((x) => x.id === id)) onSweep(e);
      onSweep(s);
    },
    line,
    finish: () => progress?.finish(),
  };
}

const fmt = (x: number | null) => (x === null ? "—" : Number.isFinite(x) ? x.toFixed(4) : String(x));

function summary(s: SweepStatus): string {
  const lines = [formatSweep(s)];
  if (s.state === "completed") lines.push("", `report: sweeps/${s.id}/sweep.md in the data folder`);
  if (s.state === "cancelled" || s.state === "failed") lines.push("", `resume with: whetstone sweep --resume ${s.id}`);
  return lines.join("\n");
}

export async function sweepsCommand(engine: Client, ref: string | undefined, io: Io, v: { json?: boolean }): Promise<number> {
  if (ref !== undefined) {
    const s = await engine.call("getSweep", { id: ref });
    io.out.write((v.json ? JSON.stringify(s, null, 2) : formatSweep(s)) + "\n");
    return EXIT.ok;
  }
  const sweeps = await engine.call("listSweeps", {});
  if (v.json) io.out.write(JSON.stringify(sweeps, null, 2) + "\n");
  else if (sweeps.length === 0) io.out.write("No sweeps yet.\nStart one with: whetstone sweep examples/tiny-sft.yaml --grid training.learning_rate=1e-4,3e-4\n");
  else {
    const rows = sweeps.map((s) => {
      const by = (state: string) => s.trials.filter((t) => t.state === state).length;
      return [s.id, s.state, `${by("completed")}/${s.trials.length}`, String(by("stopped")), s.selection?.best_trial ? `trial ${s.selection.best_trial}` : "—"];
    });
    io.out.write(table([["sweep", "state", "finished", "stopped early", "best"], ...rows]) + "\n");
  }
  return EXIT.ok;
}
