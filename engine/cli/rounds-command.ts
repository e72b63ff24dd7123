/** `whetstone rounds`: start or resume self-bootstrapped rounds and follow each phase with its progress, or list and show them. */
import { roundModel, type RoundsSpec, type RoundsStatus } from "../rounds/schema";
import { formatRounds, formatMatch, outcome, roundRows } from "../rounds/report";
import { WhetstoneError } from "../util/errors";
import { defined } from "./commands";
import { duration, table } from "./format";
import { EXIT, type Client, type Io } from "./io";
import { RunProgress } from "./progress";

export interface RoundsValues {
  json?: boolean;
  verbose?: boolean;
  rounds?: number;
  judge?: string;
  prompts?: string;
  limit?: number;
  "max-tokens"?: number;
  "stop-threshold"?: number;
  dpo?: boolean;
  resume?: string;
  show?: string;
}

export async function roundsCommand(engine: Client, configPath: string | undefined, io: Io, v: RoundsValues): Promise<number> {
  if (v.show !== undefined || (configPath === undefined && v.resume === undefined)) return showRounds(engine, v.show, io, v);
  if (configPath !== undefined && v.resume !== undefined) {
    throw new WhetstoneError({ code: "USAGE", message: "`whetstone rounds` takes a config file or --resume ID, not both.", hint: "e.g. whetstone rounds examples/tiny-rounds.yaml --rounds 3" });
  }
  const follow = followRounds(engine, io, v);
  let status: RoundsStatus;
  if (v.resume !== undefined) status = await engine.call("resumeRounds", { id: v.resume });
  else {
    const spec = defined({
      rounds: v.rounds, judge: v.judge, prompts: v.prompts, limit: v.limit, max_new_tokens: v["max-tokens"], stop_threshold: v["stop-threshold"], dpo: v.dpo || undefined,
    }) as Partial<RoundsSpec>;
    status = await engine.call("startRounds", { configPath: configPath!, spec });
  }
  follow.start(status);
  io.onInterrupt(() => {
    follow.line(`Cancelling the rounds: a training run stops with a checkpoint (resume with: whetstone rounds --resume ${status.id}).`);
    void engine.call("cancelRounds", { id: status.id });
  });
  const final = await engine.call("awaitRounds", { id: status.id });
  follow.finish();
  io.out.write((v.json ? JSON.stringify(final, null, 2) : summary(final)) + "\n");
  if (final.state === "completed") return EXIT.ok;
  return final.state === "cancelled" ? EXIT.cancelled : EXIT.failed;
}

/** Prints each round's phases as the loop's events come, with the phase's progress (synthesis rows, training steps, judging pairs). */
function followRounds(engine: Client, io: Io, v: RoundsValues) {
  let id: string | null = null;
  let progress: RunProgress | null = null;
  /** What the progress follows: the round's data file (synth events) or its run (run events). */
  let following: { kind: "synth"; out: string } | { kind: "run"; runId: string } | null = null;
  const seen = new Map<number, string>();
  const early: RoundsStatus[] = [];
  const line = (text: string) => (progress ? progress.line(text) : io.out.write(text + "\n"));
  const follow = (next: typeof following, key: string) => {
    progress?.finish();
    following = next;
    progress = next ? new RunProgress(key, io.out, v.verbose) : null;
  };
  const onRounds = (s: RoundsStatus) => {
    for (const r of s.rounds) {
      const key = `${r.state}:${r.run_id}:${r.vs_base ? 1 : 0}:${r.vs_previous ? 1 : 0}:${r.dpo_run_id}`;
      if (seen.get(r.index) === key) continue;
      const before = seen.get(r.index);
      seen.set(r.index, key);
      const head = `round ${r.index}/${s.spec.rounds}`;
      if (r.state === "synthesizing" && !before?.startsWith("synthesizing")) {
        follow({ kind: "synth", out: r.data }, `synth:${r.data}`);
        line(`${head}: synthesizing ${String(s.spec.synth.n)} rows with ${String(s.spec.synth.method)} from ${r.index > 1 ? `round ${r.index - 1} (${r.synth_from})` : r.parent_run ? `run ${r.parent_run}` : s.base_model} into ${r.data}`);
      } else if (r.state === "training" && r.run_id && !before?.includes(`:${r.run_id}:`)) {
        follow({ kind: "run", runId: r.run_id }, r.run_id);
        line(`${head}: ${r.rows !== null ? `${r.rows} rows; ` : ""}training run ${r.run_id}${r.parent_run ? ` from ${r.index > 1 ? `round ${r.index - 1}'s` : "the starting"} run ${r.parent_run}` : ""}`);
      } else if (r.state === "pairing" && !before?.startsWith("pairing")) {
        follow(null, "");
        line(`${head}: making preference pairs of the judged answers in ${r.data}`);
      } else if (r.state === "dpo" && r.dpo_run_id && !before?.endsWith(`:${r.dpo_run_id}`)) {
        follow({ kind: "run", runId: r.dpo_run_id }, r.dpo_run_id);
        line(`${head}: ${r.pair_rows !== null ? `${r.pair_rows} pairs (${r.pairs_dropped ?? 0} prompts too close to call); ` : ""}DPO run ${r.dpo_run_id} from the round's run ${r.run_id}`);
      } else if (r.state === "evaluating" && !before?.startsWith("evaluating")) {
        const model = roundModel(r);
        if (model) follow({ kind: "run", runId: model }, model);
        line(`${head}: judging ${model} against the base${r.parent_run ? ` and ${r.index > 1 ? `round ${r.index - 1}` : `the starting run ${r.parent_run}`}` : ""} on ${s.prompts}`);
      } else if (r.state === "evaluating" && r.vs_base && r.parent_run && !before?.split(":")[2]?.startsWith("1")) {
        line(`${head}: LC win rate vs the base ${formatMatch(r.vs_base)}`);
      } else if (r.state === "done" && !before?.startsWith("done")) {
        follow(null, "");
        const vs = r.parent_run ? `, vs ${r.index > 1 ? `round ${r.index - 1}` : "the starting run"} ${formatMatch(r.vs_previous)}` : "";
        line(`${head}: LC win rate vs the base ${formatMatch(r.vs_base)}${vs}${r.reason ? ` — ${r.reason}` : ""}; ${duration(s.elapsed_s)} so far`);
      } else if (r.state === "failed" && !before?.startsWith("failed")) {
        follow(null, "");
        line(`${head}: failed: ${r.reason}`);
      }
    }
  };
  engine.subscribe((e) => {
    if (e.type === "rounds") {
      if (id === null) early.push(e.rounds);
      else if (e.rounds.id === id) onRounds(e.rounds);
    } else if (e.type === "synth" && following?.kind === "synth" && e.out === following.out) {
      progress?.handle({ type: "progress", runId: `synth:${e.out}`, progress: e.progress });
    } else if (following?.kind === "run") progress?.handle(e);
  });
  return {
    start: (s: RoundsStatus) => {
      id = s.id;
      io.out.write(`rounds ${s.id}: up to ${s.spec.rounds} rounds, ${String(s.spec.synth.n)} ${String(s.spec.synth.method)} rows each, judged on ${s.prompts}\n`);
      for (const e of early.filter((x) => x.id === id)) onRounds(e);
      onRounds(s);
    },
    line,
    finish: () => progress?.finish(),
  };
}

function summary(s: RoundsStatus): string {
  const lines = [table(roundRows(s)), "", ...outcome(s)];
  if (s.state === "completed") lines.push(`report: rounds/${s.id}/rounds.md in the data folder`);
  if (s.state !== "completed") lines.push(`resume with: whetstone rounds --resume ${s.id}`);
  return lines.join("\n");
}

async function showRounds(engine: Client, ref: string | undefined, io: Io, v: RoundsValues): Promise<number> {
  if (ref !== undefined) {
    const s = await engine.call("getRounds", { id: ref });
    io.out.write((v.json ? JSON.stringify(s, null, 2) : formatRounds(s)) + "\n");
    return EXIT.ok;
  }
  const all = await engine.call("listRounds", {});
  if (v.json) io.out.write(JSON.stringify(all, null, 2) + "\n");
  else if (all.length === 0) io.out.write("No rounds yet.\nStart some with: whetstone rounds examples/tiny-rounds.yaml\n");
  else {
    const rows = all.map((s) => [s.id, s.state, `${s.rounds.filter((r) => r.state === "done").length}/${s.spec.rounds}`, s.best_round ? `round ${s.best_round}` : "—"]);
    io.out.write(table([["rounds", "state", "judged", "best"], ...rows]) + "\n");
  }
  return EXIT.ok;
}
