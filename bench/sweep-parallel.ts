/**
 * What training a sweep's trials side by side saves in wall time (issue #19 item 2), on the tiny
 * model: the same 4-trial learning-rate sweep with `parallel: 1` (one after another, each trial's
 * torch on every core, as before), `parallel: 2` (two at a time, the cores split between them), and,
 * to tell the two effects apart, one at a time on one thread each (training.threads 1: what the
 * split alone does), without and with early stopping. Arms rotate in order round by round (the
 * machine may be shared: a drift in its load then falls on every arm alike) and the median is
 * reported; each round also checks that every arm trained each completed trial to the same final
 * loss. Measured: the sweep's wall time (model loads and judging included) and its training span
 * (the first trial's start to the last trial's end, from the runs' own times), and the load average
 * around each sweep.
 *
 *   npm run bench -- sweep-parallel [--steps N] [--rounds R] [--judge DIR]
 */
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Engine } from "../engine/api/engine";
import { PROJECT_ROOT } from "../engine/paths";
import type { EarlyStopRule, SweepStatus } from "../engine/sweep/schema";
import { ensureTinyJudge } from "../tests/engine/eval/tiny-judge";
import { describeMachine } from "./machine";
import { tinySweepConfig } from "./sweep";

const RATES = [1e-3, 2e-3, 3e-3, 1e-2];

/** One way to train the sweep: trials at once, and torch's threads per trial (null: its default, every core). */
const ARMS = [
  { arm: "one at a time", parallel: 1, threads: null },
  { arm: "one at a time, 1 thread", parallel: 1, threads: 1 },
  { arm: "two at a time", parallel: 2, threads: null },
] as const;
type Arm = (typeof ARMS)[number]["arm"];

interface Sample {
  round: number;
  early_stop: EarlyStopRule;
  arm: Arm;
  slots: number;
  side_by_side: string;
  seconds: number;
  training_span_s: number;
  steps_trained: number;
  load_before: number;
  load_after: number;
  /** Completed trials' final losses (a trial stopped early stops a step sooner or later, as the cancel lands). */
  final_losses: (number | null)[];
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { steps: { type: "string" }, rounds: { type: "string" }, judge: { type: "string" }, out: { type: "string" } } });
  const steps = Number(values.steps ?? 24);
  const rounds = Number(values.rounds ?? 3);
  const judge = values.judge ?? ensureTinyJudge();
  const work = mkdtempSync(join(tmpdir(), "whetstone-sweep-parallel-"));
  const config = await tinySweepConfig("side", steps, work);
  const samples: Sample[] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const rule of ["off", "signals"] as const) {
      const order = ARMS.map((_, i) => ARMS[(i + round - 1) % ARMS.length]!);
      for (const { arm, parallel, threads } of order) {
        const engine = new Engine({ home: join(work, `r${round}-${rule}-${arm.replace(/\W+/g, "-")}`) });
        const load_before = loadavg()[0]!;
        const t0 = performance.now();
        const armConfig = threads === null ? config : { ...config, training: { ...config.training, threads } };
        const started = await engine.call("startSweep", { config: armConfig, baseDir: work, spec: { grid: { "training.learning_rate": RATES }, early_stop: rule, parallel, judge, limit: 8, max_new_tokens: 16 } });
        const sweep = await engine.call("awaitSweep", { id: started.id });
        const seconds = (performance.now() - t0) / 1000;
        if (sweep.state !== "completed") throw new Error(`the sweep (${rule}, ${arm}) ended ${sweep.state}: ${sweep.error?.message}`);
        const sample: Sample = {
          round, early_stop: rule, arm, slots: sweep.side_by_side?.slots ?? 1, side_by_side: sweep.side_by_side?.text ?? "", seconds: round3(seconds),
          training_span_s: round3(span(engine, sweep)), steps_trained: sweep.trials.reduce((a, t) => a + (t.steps ?? 0), 0),
          load_before: round3(load_before), load_after: round3(loadavg()[0]!), final_losses: sweep.trials.map((t) => (t.state === "completed" ? t.final_loss : null)),
        };
        samples.push(sample);
        console.log(`round ${round}, early stop ${rule}, ${arm} (${sample.slots} at a time): ${sample.seconds} s, training ${sample.training_span_s} s, load ${sample.load_before}→${sample.load_after}`);
      }
    }
  }
  const arms = (["off", "signals"] as const).flatMap((rule) =>
    ARMS.map(({ arm }) => {
      const mine = samples.filter((s) => s.early_stop === rule && s.arm === arm);
      return { early_stop: rule, arm, slots: mine[0]!.slots, side_by_side: mine[0]!.side_by_side, median_seconds: median(mine.map((s) => s.seconds)), median_training_span_s: median(mine.map((s) => s.training_span_s)), steps_trained: mine[0]!.steps_trained };
    }),
  );
  const comparison = (["off", "signals"] as const).map((rule) => {
    const [one, oneThread, two] = ARMS.map(({ arm }) => arms.find((a) => a.early_stop === rule && a.arm === arm)!);
    const losses = samples.filter((s) => s.early_stop === rule).map((s) => JSON.stringify(s.final_losses));
    return {
      early_stop: rule,
      wall_ratio: round3(two!.median_seconds / one!.median_seconds),
      training_ratio: round3(two!.median_training_span_s / one!.median_training_span_s),
      wall_ratio_to_one_thread: round3(two!.median_seconds / oneThread!.median_seconds),
      training_ratio_to_one_thread: round3(two!.median_training_span_s / oneThread!.median_training_span_s),
      saved_seconds: round3(one!.median_seconds - two!.median_seconds),
      same_final_losses: losses.every((l) => l === losses[0]),
    };
  });
  const result = { bench: "sweep-parallel", command: `npm run bench -- sweep-parallel --steps ${steps} --rounds ${rounds}`, machine: describeMachine(), rates: RATES, steps_per_trial: steps, arms, comparison, samples };
  const out = values.out ?? join(PROJECT_ROOT, "bench", "results");
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "sweep-parallel.json"), JSON.stringify(result, null, 2) + "\n");
  writeFileSync(join(out, "sweep-parallel.md"), markdown(result) + "\n");
  console.log(markdown(result));
}

/** The first trial's start to the last trial's end, from the runs' own status (seconds). */
function span(engine: Engine, sweep: SweepStatus): number {
  const runs = sweep.trials.filter((t) => t.run_id).map((t) => engine.store.get(t.run_id!));
  return (Math.max(...runs.map((r) => Date.parse(r.finished_at!))) - Math.min(...runs.map((r) => Date.parse(r.started_at!)))) / 1000;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : round3((s[s.length / 2 - 1]! + s[s.length / 2]!) / 2);
};

function markdown(r: { command: string; machine: Record<string, unknown>; rates: number[]; steps_per_trial: number; arms: { early_stop: string; arm: string; slots: number; side_by_side: string; median_seconds: number; median_training_span_s: number; steps_trained: number }[]; comparison: { early_stop: string; wall_ratio: number; training_ratio: number; wall_ratio_to_one_thread: number; training_ratio_to_one_thread: number; saved_seconds: number; same_final_losses: boolean }[]; samples: Sample[] }): string {
  const m = r.machine;
  const lines = [
    "# Sweep trials side by side",
    "",
    `\`${r.command}\` on ${String(m.cpu)} (${String(m.cores)} cores, ${String(m.memory_gib)} GiB), torch ${String(m.torch)}, ${String(m.date).slice(0, 10)}.`,
    "",
    `The same sweep, learning rates ${r.rates.join(", ")}, ${r.steps_per_trial} steps each on the tiny model, judged by the tiny judge (8 prompts), trained one at a time (\`parallel: 1\`, each trial's torch on every core, as before), two at a time (\`parallel: 2\`, one core each), and one at a time on one thread each (\`training.threads: 1\`: the split of the cores without the side by side), without and with early stopping. Arms rotate in order round by round, after an untimed warm-up run; medians over the rounds. Wall: the whole sweep, model loads and judging included; training: the first trial's start to the last trial's end, from the runs' own times. Other work shared this machine while it ran: the load average (1 min) around each sweep is in the table of rounds.`,
    "",
    "| early stop | arm | trials at once | steps trained | wall (s) | training (s) |",
    "|---|---|---|---|---|---|",
  ];
  for (const a of r.arms) lines.push(`| ${a.early_stop} | ${a.arm} | ${a.slots} | ${a.steps_trained} | ${a.median_seconds} | ${a.median_training_span_s} |`);
  lines.push("", "| early stop | wall, two at a time ÷ one at a time | training, ÷ | seconds saved | wall, two at a time ÷ one at a time on 1 thread | training, ÷ | same final losses (completed trials) |", "|---|---|---|---|---|---|---|");
  for (const c of r.comparison) lines.push(`| ${c.early_stop} | ${c.wall_ratio} | ${c.training_ratio} | ${c.saved_seconds} | ${c.wall_ratio_to_one_thread} | ${c.training_ratio_to_one_thread} | ${c.same_final_losses ? "yes, in every arm and round, to the last bit" : "no"} |`);
  const side = r.arms.find((a) => a.arm === "two at a time")?.side_by_side;
  if (side) lines.push("", `What the sweep said: "${side}".`);
  lines.push("", "Rounds:", "", "| round | early stop | arm | wall (s) | training (s) | load before → after |", "|---|---|---|---|---|---|");
  for (const s of r.samples) lines.push(`| ${s.round} | ${s.early_stop} | ${s.arm} | ${s.seconds} | ${s.training_span_s} | ${s.load_before} → ${s.load_after} |`);
  return lines.join("\n");
}
