/**
 * What early stopping buys a sweep (issue #19), on the tiny model: one planted learning-rate sweep
 * (one rate far too low, one far too high, three sensible) run three times in the same process:
 * without early stopping, with the `signals` rule and with the `val` rule. Measured: the steps and
 * the wall time each arm spent (as a ratio to the arm without early stopping), which trials were
 * stopped and why, the judge's pick of each arm, and whether it agrees with the pick without early
 * stopping; and, as a check of what was stopped, each trial's final validation loss in the arm
 * without early stopping (a stopped trial that was the best by validation loss is a wrong stop).
 *
 *   npm run bench -- sweep [--steps N] [--judge DIR]
 */
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Engine } from "../engine/api/engine";
import { PROJECT_ROOT } from "../engine/paths";
import type { EarlyStopRule, SweepStatus } from "../engine/sweep/schema";
import { ensureTinyJudge } from "../tests/engine/eval/tiny-judge";
import { describeMachine } from "./machine";

const RATES = [1e-5, 1e-3, 3e-3, 1e-2, 1.0];

/**
 * The sweeps' base config on the tiny model (a tenth held out for validation, `steps` steps, six
 * checkpoints), after an untimed 2-step warm-up run in `work`: the first training of a process pays
 * for the fork server's imports and file caches.
 */
export async function tinySweepConfig(name: string, steps: number, work: string) {
  const config = {
    name,
    model: { path: join(PROJECT_ROOT, ".cache", "fixtures", "tiny-llama") },
    data: { train: join(PROJECT_ROOT, "examples", "tiny-chat.jsonl"), max_length: 192, validation_split: 0.1 },
    lora: { r: 4, alpha: 8 },
    training: { micro_batch_size: 4, learning_rate: 1e-3, max_steps: steps, checkpoint_every: Math.max(1, Math.round(steps / 6)), neftune_alpha: 0, seed: 1 },
  };
  const warm = new Engine({ home: join(work, "warm-up") });
  await warm.call("awaitRun", { id: (await warm.call("createRun", { config: { ...config, training: { ...config.training, max_steps: 2 } }, baseDir: work })).id });
  return config;
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { steps: { type: "string" }, judge: { type: "string" }, out: { type: "string" } } });
  const steps = Number(values.steps ?? 24);
  const judge = values.judge ?? ensureTinyJudge();
  const work = mkdtempSync(join(tmpdir(), "whetstone-sweep-bench-"));
  const config = await tinySweepConfig("planted", steps, work);
  const arms: { rule: EarlyStopRule; sweep: SweepStatus; seconds: number }[] = [];
  for (const rule of ["off", "signals", "val"] as const) {
    const engine = new Engine({ home: join(work, rule) });
    const t0 = performance.now();
    const started = await engine.call("startSweep", { config, baseDir: work, spec: { grid: { "training.learning_rate": RATES }, early_stop: rule, judge, limit: 8, max_new_tokens: 16 } });
    const sweep = await engine.call("awaitSweep", { id: started.id });
    if (sweep.state !== "completed") throw new Error(`the ${rule} sweep ended ${sweep.state}: ${sweep.error?.message}`);
    arms.push({ rule, sweep, seconds: (performance.now() - t0) / 1000 });
    console.log(`${rule}: ${sweep.trials.map((t) => `${t.settings["training.learning_rate"]} ${t.state}`).join(", ")}; pick trial ${sweep.selection?.best_trial} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
  const baseline = arms[0]!;
  const bestByVal = [...baseline.sweep.trials].sort((a, b) => (a.val_loss ?? Infinity) - (b.val_loss ?? Infinity))[0]!;
  const result = {
    bench: "sweep",
    command: `npm run bench -- sweep --steps ${steps}`,
    machine: describeMachine(),
    planted: { rates: RATES, steps_per_trial: steps, note: "1e-5 is far too low, 1.0 far too high" },
    best_by_val_loss_without_early_stop: { trial: bestByVal.index, rate: bestByVal.settings["training.learning_rate"], val_loss: bestByVal.val_loss },
    arms: arms.map(({ rule, sweep, seconds }) => {
      const trained = sweep.trials.reduce((a, t) => a + (t.steps ?? 0), 0);
      return {
        early_stop: rule,
        seconds: round(seconds),
        time_ratio_to_off: round(seconds / baseline.seconds),
        steps_trained: trained,
        steps_ratio_to_off: round(trained / baseline.sweep.trials.reduce((a, t) => a + (t.steps ?? 0), 0)),
        stopped: sweep.trials.filter((t) => t.state === "stopped").map((t) => ({ rate: t.settings["training.learning_rate"], at_step: t.steps, why: t.reason })),
        pick: { trial: sweep.selection?.best_trial ?? null, rate: sweep.trials.find((t) => t.index === sweep.selection?.best_trial)?.settings["training.learning_rate"] ?? null },
        pick_agrees_with_off: sweep.selection?.best_trial === baseline.sweep.selection?.best_trial,
        stopped_the_best_by_val_loss: sweep.trials.some((t) => t.state === "stopped" && t.index === bestByVal.index),
        trials: sweep.trials.map((t) => ({ rate: t.settings["training.learning_rate"], state: t.state, steps: t.steps, final_loss: t.final_loss, val_loss: t.val_loss, signals_score: t.signals?.score ?? null })),
      };
    }),
  };
  const out = values.out ?? join(PROJECT_ROOT, "bench", "results");
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "sweep.json"), JSON.stringify(result, null, 2) + "\n");
  writeFileSync(join(out, "sweep.md"), markdown(result) + "\n");
  console.log(markdown(result));
}

const round = (x: number) => Math.round(x * 1000) / 1000;

function markdown(r: { command: string; planted: { rates: number[]; steps_per_trial: number }; best_by_val_loss_without_early_stop: { rate: unknown; val_loss: number | null }; arms: { early_stop: string; seconds: number; time_ratio_to_off: number; steps_trained: number; steps_ratio_to_off: number; stopped: { rate: unknown; at_step: number | null; why: string | null }[]; pick: { rate: unknown }; pick_agrees_with_off: boolean; stopped_the_best_by_val_loss: boolean }[] }): string {
  const lines = [
    "# What early stopping buys a sweep",
    "",
    `\`${r.command}\`: learning rates ${r.planted.rates.join(", ")} (1e-5 far too low, 1.0 far too high), ${r.planted.steps_per_trial} steps each, the tiny model and the tiny judge. The arms ran one after another in the same process, after an untimed warm-up run; ratios are to the arm without early stopping. The tiny judge is a random model exported to ONNX: its pick is noise, so whether early stopping stopped a good trial is read from the trials' final validation loss in the arm without it.`,
    "",
    `Best trial by final validation loss without early stopping: learning rate ${String(r.best_by_val_loss_without_early_stop.rate)} (${r.best_by_val_loss_without_early_stop.val_loss?.toFixed(4)}).`,
    "",
    "| early stop | steps trained | × off | seconds | × off | stopped (rate at step) | judge's pick | agrees with off | stopped the best by val loss |",
    "|---|---|---|---|---|---|---|---|---|",
  ];
  for (const a of r.arms) {
    const stopped = a.stopped.map((s) => `${String(s.rate)} at ${s.at_step}`).join(", ") || "—";
    lines.push(`| ${a.early_stop} | ${a.steps_trained} | ${a.steps_ratio_to_off} | ${a.seconds} | ${a.time_ratio_to_off} | ${stopped} | lr ${String(a.pick.rate)} | ${a.pick_agrees_with_off ? "yes" : "no"} | ${a.stopped_the_best_by_val_loss ? "yes" : "no"} |`);
  }
  lines.push("", "Why each was stopped:", "");
  for (const a of r.arms) for (const s of a.stopped) lines.push(`- ${a.early_stop}, lr ${String(s.rate)}: ${s.why}`);
  return lines.join("\n");
}
