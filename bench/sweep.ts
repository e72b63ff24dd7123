/**
 * What early stopping buys a sweep (issue #19), on the tiny model: one planted learning-rate sweep
 * (one rate far too low, one far too high, three sensible) run three times in the same process:
 * without early stopping, with the `signals` rule and with the `val` rule. Measured: the steps and
 * the wall time each arm spent (as a ratio to the arm without early stopping), which trials were
 * stopped and why, the judge's pick of each arm and its ranking, and whether the pick agrees with
 * the pick without early stopping; and, as a second check of what was stopped, each trial's final
 * validation loss in the arm without early stopping.
 *
 * The trials are full fine-tunes, 96 steps (four passes over the ~96 training conversations) by
 * default. Measured while writing this bench, at learning rates 1e-3 to 3e-2: LoRA on the tiny
 * random model (r 4 at 24 and 96 steps, r 32 at 96) stays at a validation loss of 6.0–6.2 and
 * never writes an answer ("................", "A.", fragments like " inst travel bec show");
 * full fine-tunes at 24 or 48 steps answer "A a a a…"; at 96 they write answer-shaped text
 * ("Glad is a synonym for happy."). A pick among answers that are all garbage means nothing
 * whatever the judge.
 *
 * The judge is the planted one (./planted-judge: it prefers an answer like the data's over an
 * untrained or diverged model's). Before the sweeps it is measured on held-out pairs, with the
 * random tiny judge of the tests beside it as the chance baseline, and the bench stops when the
 * judge is no better than chance.
 *
 *   npm run bench -- sweep [--steps N] [--judge DIR]
 */
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { isAbsolute, join, relative } from "node:path";
import { parseArgs } from "node:util";
import { Engine } from "../engine/api/engine";
import { PROJECT_ROOT } from "../engine/paths";
import type { EarlyStopRule, SweepStatus } from "../engine/sweep/schema";
import { ensureTinyJudge } from "../tests/engine/eval/tiny-judge";
import { describeMachine } from "./machine";
import { ensurePlantedJudge, measureJudge, type JudgeMeasure, type PlantedManifest } from "./planted-judge";

const RATES = [1e-5, 1e-3, 3e-3, 1e-2, 1.0];
const SENSIBLE = [1e-3, 3e-3, 1e-2];
/** The longest answer each trial gives the judge; the planted judge's pairs are cut to it too. */
const MAX_NEW_TOKENS = 16;

/**
 * The sweeps' base config on the tiny model (a tenth held out for validation, `steps` steps, six
 * checkpoints; LoRA r 4 unless `finetune` says full), after an untimed 2-step warm-up run in
 * `work`: the first training of a process pays for the fork server's imports and file caches.
 */
export async function tinySweepConfig(name: string, steps: number, work: string, finetune: "lora" | "full" = "lora") {
  const config = {
    name,
    model: { path: join(PROJECT_ROOT, ".cache", "fixtures", "tiny-llama") },
    data: { train: join(PROJECT_ROOT, "examples", "tiny-chat.jsonl"), max_length: 192, validation_split: 0.1 },
    ...(finetune === "full" ? { finetune } : { lora: { r: 4, alpha: 8 } }),
    training: { micro_batch_size: 4, learning_rate: 1e-3, max_steps: steps, checkpoint_every: Math.max(1, Math.round(steps / 6)), neftune_alpha: 0, seed: 1 },
  };
  const warm = new Engine({ home: join(work, "warm-up") });
  await warm.call("awaitRun", { id: (await warm.call("createRun", { config: { ...config, training: { ...config.training, max_steps: 2 } }, baseDir: work })).id });
  return config;
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { steps: { type: "string" }, judge: { type: "string" }, out: { type: "string" } } });
  const steps = Number(values.steps ?? 96);
  const work = mkdtempSync(join(tmpdir(), "whetstone-sweep-bench-"));
  const config = await tinySweepConfig("planted", steps, work, "full");
  const planted = await ensurePlantedJudge({ data: config.data.train, validationSplit: config.data.validation_split, seed: config.training.seed, maxNewTokens: MAX_NEW_TOKENS });
  const judge = values.judge ?? planted.folder;
  const measured = await measureJudge(judge, planted.held_out);
  const chance = await measureJudge(ensureTinyJudge(), planted.held_out);
  console.log(`judge ${judge}: prefers the on-task answer in ${pct(measured.accuracy)} of ${measured.pairs} held-out pairs (95% ${pct(measured.accuracy_ci.low)}–${pct(measured.accuracy_ci.high)}); the random tiny judge: ${pct(chance.accuracy)}`);
  if (!(measured.accuracy_ci.low > 0.5)) {
    throw new Error(
      `The judge at ${judge} is no better than chance on the held-out pairs: it prefers the on-task answer in ${pct(measured.accuracy)} of ${measured.pairs} (95% interval ${pct(measured.accuracy_ci.low)}–${pct(measured.accuracy_ci.high)}, not above 50%), so its pick of a trial would mean nothing. ` +
        (values.judge ? "Pass a judge that reads the answers, or leave --judge out for the planted one." : `Delete ${planted.folder} to rebuild the planted judge and look at its build runs in .cache/fixtures/planted-judge-build.`),
    );
  }
  const arms: Arm[] = [];
  for (const rule of ["off", "signals", "val"] as const) arms.push(await runArm(rule, config, work, judge));
  // The prompts the sweep judged must be held out from the judge's training too.
  const judged = arms[0]!.judged;
  const leaked = judged.filter((p) => planted.training_instructions.includes(p));
  if (leaked.length) throw new Error(`${leaked.length} of the ${judged.length} prompts the sweep judged are among the planted judge's training prompts (first: ${JSON.stringify(leaked[0])}): its verdicts on them are no held-out measure. The judge's split must be the sweep's (data, validation_split and seed).`);
  const result = report(arms, {
    command: `npm run bench -- sweep --steps ${steps}${values.judge ? ` --judge ${values.judge}` : ""}`,
    planted: { rates: RATES, steps_per_trial: steps, finetune: "full", prompts_judged: judged.length, max_new_tokens: MAX_NEW_TOKENS, note: "1e-5 is far too low, 1.0 far too high" },
    judge: { ...measured, judge: shown(judge), planted: judge === planted.folder, build: planted.build, judged_prompts_in_its_training: leaked.length },
    random_tiny_judge: { ...chance, judge: shown(chance.judge) },
  });
  const out = values.out ?? join(PROJECT_ROOT, "bench", "results");
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "sweep.json"), JSON.stringify(result, null, 2) + "\n");
  writeFileSync(join(out, "sweep.md"), markdown(result) + "\n");
  console.log(markdown(result));
}

interface Arm {
  rule: EarlyStopRule;
  sweep: SweepStatus;
  seconds: number;
  /** The machine's 1-minute load average before and after (others share it). */
  load: number[];
  /** Each finished trial's answers, by trial index. */
  answers: Map<number, string[]>;
  /** The instructions the judge saw. */
  judged: string[];
}

async function runArm(rule: EarlyStopRule, config: Awaited<ReturnType<typeof tinySweepConfig>>, work: string, judge: string): Promise<Arm> {
  const engine = new Engine({ home: join(work, rule) });
  const loadBefore = loadavg()[0]!;
  const t0 = performance.now();
  const started = await engine.call("startSweep", { config, baseDir: work, spec: { grid: { "training.learning_rate": RATES }, early_stop: rule, judge, limit: 8, max_new_tokens: MAX_NEW_TOKENS } });
  const sweep = await engine.call("awaitSweep", { id: started.id });
  const seconds = (performance.now() - t0) / 1000;
  const load = [loadBefore, loadavg()[0]!];
  if (sweep.state !== "completed") throw new Error(`the ${rule} sweep ended ${sweep.state}: ${sweep.error?.message}`);
  // Each finished trial's report against its base, written by the judging, has its answers and the prompts.
  const reports = new Map(sweep.trials.filter((t) => t.state === "completed").map((t) => [t.index, engine.getEval({ id: t.run_id!, against: "base" })?.per_prompt ?? []] as const));
  const field = (p: unknown, key: string) => String((p as Record<string, unknown>)[key]);
  const answers = new Map([...reports].map(([i, rows]) => [i, rows.map((p) => field(p, "model"))] as const));
  const judged = ([...reports.values()][0] ?? []).map((p) => field(p, "instruction"));
  console.log(`${rule}: ${sweep.trials.map((t) => `${t.settings["training.learning_rate"]} ${t.state}`).join(", ")}; pick trial ${sweep.selection?.best_trial} (${seconds.toFixed(1)} s)`);
  await engine.close();
  return { rule, sweep, seconds, load, answers, judged };
}

/** What the bench says before the sweeps: the command, the planted sweep, the judge's measure and the chance baseline. */
interface Head {
  command: string;
  planted: { rates: number[]; steps_per_trial: number; finetune: string; prompts_judged: number; max_new_tokens: number; note: string };
  judge: JudgeMeasure & { planted: boolean; build: PlantedManifest["build"]; judged_prompts_in_its_training: number };
  random_tiny_judge: JudgeMeasure;
}

function report(arms: Arm[], head: Head) {
  const off = arms[0]!;
  const rateOf = (sweep: SweepStatus, index: number | null | undefined) => sweep.trials.find((t) => t.index === index)?.settings["training.learning_rate"] ?? null;
  const stepsOf = (sweep: SweepStatus) => sweep.trials.reduce((a, t) => a + (t.steps ?? 0), 0);
  const bestByVal = [...off.sweep.trials].sort((a, b) => (a.val_loss ?? Infinity) - (b.val_loss ?? Infinity))[0]!;
  return {
    bench: "sweep",
    ...head,
    machine: describeMachine(),
    best_by_val_loss_without_early_stop: { trial: bestByVal.index, rate: bestByVal.settings["training.learning_rate"], val_loss: bestByVal.val_loss },
    answers_without_early_stop: off.sweep.trials.map((t) => ({ rate: t.settings["training.learning_rate"], first_answers: (off.answers.get(t.index) ?? []).slice(0, 3) })),
    arms: arms.map(({ rule, sweep, seconds, load, answers }) => {
      const pickRate = rateOf(sweep, sweep.selection?.best_trial);
      const finished = [...answers.entries()];
      return {
        early_stop: rule,
        seconds: round(seconds),
        time_ratio_to_off: round(seconds / off.seconds),
        load_average: load.map(round),
        steps_trained: stepsOf(sweep),
        steps_ratio_to_off: round(stepsOf(sweep) / stepsOf(off.sweep)),
        stopped: sweep.trials.filter((t) => t.state === "stopped").map((t) => ({ rate: t.settings["training.learning_rate"], at_step: t.steps, why: t.reason })),
        pick: { trial: sweep.selection?.best_trial ?? null, rate: pickRate },
        pick_agrees_with_off: sweep.selection?.best_trial === off.sweep.selection?.best_trial,
        pick_is_sensible: typeof pickRate === "number" && SENSIBLE.includes(pickRate),
        stopped_the_best_by_val_loss: sweep.trials.some((t) => t.state === "stopped" && t.index === bestByVal.index),
        stopped_the_pick_without_early_stop: sweep.trials.some((t) => t.state === "stopped" && t.index === off.sweep.selection?.best_trial),
        // A trial paused at its warm-up and resumed should answer exactly as the one that was not.
        same_answers_as_off: { trials: finished.length, same: finished.filter(([i, a]) => JSON.stringify(a) === JSON.stringify(off.answers.get(i))).length },
        ranking: (sweep.selection?.ranking ?? []).map((r) => ({ who: r.run_id ? `lr ${String(rateOfRun(sweep, r.run_id))}` : "base", strength: round(r.strength) })),
        pick_vs_runner_up: headToHead(sweep),
        trials: sweep.trials.map((t) => ({ rate: t.settings["training.learning_rate"], state: t.state, steps: t.steps, final_loss: t.final_loss, val_loss: t.val_loss, signals_score: t.signals?.score ?? null })),
      };
    }),
  };
}

const rateOfRun = (sweep: SweepStatus, runId: string | null) => sweep.trials.find((t) => t.run_id === runId)?.settings["training.learning_rate"] ?? null;

/** The pick against the second in the ranking: the judge's win rate for the pick and its length-controlled interval (percent). */
function headToHead(sweep: SweepStatus) {
  const [first, second] = (sweep.selection?.ranking ?? []).filter((r) => r.run_id !== null);
  if (!first || !second) return null;
  const m = sweep.selection!.matches.find((x) => [x.model, x.baseline].includes(first.run_id!) && [x.model, x.baseline].includes(second.run_id!));
  if (!m) return null;
  const flip = m.model !== first.run_id;
  return {
    pick: rateOfRun(sweep, first.run_id),
    runner_up: rateOfRun(sweep, second.run_id),
    n: m.n,
    win_rate: round(flip ? 100 - m.win_rate : m.win_rate),
    lc_interval: flip ? [round(100 - m.lc_high), round(100 - m.lc_low)] : [round(m.lc_low), round(m.lc_high)],
  };
}

const round = (x: number) => Math.round(x * 1000) / 1000;
/** A folder inside the checkout by its path from the root (the results are committed). */
const shown = (folder: string) => (isAbsolute(folder) && !relative(PROJECT_ROOT, folder).startsWith("..") ? relative(PROJECT_ROOT, folder) : folder);
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

type Result = ReturnType<typeof report>;

function markdown(r: Result): string {
  const j = r.judge;
  const c = r.random_tiny_judge;
  const [off, ...early] = r.arms;
  const lines = [
    "# What early stopping buys a sweep",
    "",
    `\`${r.command}\`: learning rates ${r.planted.rates.join(", ")} (1e-5 far too low, 1.0 far too high), ${r.planted.steps_per_trial} steps each, full fine-tunes of the tiny model; the judge compares the finished trials' answers (at most ${r.planted.max_new_tokens} tokens) to ${r.planted.prompts_judged} held-out prompts. The arms ran one after another in the same process, after an untimed warm-up run; ratios are to the arm without early stopping; other work shared the machine (its load average is in the table), so the seconds are rough. Full fine-tunes for that many steps because, measured while writing this bench, LoRA on the tiny random model (r 4 at 24 and 96 steps, r 32 at 96) never writes an answer at any rate ("................", "A.", fragments like \" inst travel bec show\"), and full fine-tunes at 24 or 48 steps write "A a a a…" and the like: a pick among such answers would mean nothing whatever the judge (the bench's first version, LoRA r 4 for 24 steps, picked among exactly those).`,
    "",
    "## The judge, measured first",
    "",
    j.planted
      ? `The planted judge (\`bench/planted-judge.ts\`): the tiny model fully fine-tuned by Whetstone to answer "1" or "2" in the judge's own prompt, on ${j.build.rows} rows from the ${j.build.training_prompts} prompts of the training split only (each prompt's dataset answer against an untrained model's, a diverged model's, repetition, random tokens, its own words shuffled, nothing, or another prompt's answer; both orders). The sweep's split is the judge's: none of the ${r.planted.prompts_judged} prompts the sweep judged is among its training prompts (${j.judged_prompts_in_its_training} found).`
      : `The judge given: \`${j.judge}\`.`,
    "",
    `On ${j.pairs} pairs built the same way from the ${j.build.held_out_prompts} held-out prompts, judged in both orders through the engine's ONNX judge, it prefers the on-task answer in ${pct(j.accuracy)} (95% ${pct(j.accuracy_ci.low)}–${pct(j.accuracy_ci.high)}; mean preference ${j.mean_preference.toFixed(3)}; the two orders agree in ${pct(j.position_consistency)}). The random tiny judge of the tests on the same pairs, the baseline: ${pct(c.accuracy)} (mean preference ${c.mean_preference.toFixed(3)}, orders agree in ${pct(c.position_consistency)}): its preferences sit within ${c.mean_margin.toFixed(4)} of one half on average (the planted judge's: ${j.mean_margin.toFixed(3)}), so which side of one half each falls on is noise, not reading. The bench stops when the lower end of the judge's interval is not above 50%.`,
    "",
    "| bad answer | pairs | judge prefers the on-task answer | mean preference | random tiny judge | mean preference |",
    "|---|---|---|---|---|---|",
    ...j.by_kind.map((k) => {
      const b = c.by_kind.find((x) => x.kind === k.kind)!;
      return `| ${k.kind} | ${k.pairs} | ${pct(k.accuracy)} | ${k.mean_preference.toFixed(3)} | ${pct(b.accuracy)} | ${b.mean_preference.toFixed(3)} |`;
    }),
    "",
    "## The sweeps",
    "",
    "| early stop | steps trained | × off | seconds | × off | load before, after | stopped (rate at step) | judge's pick | agrees with off | stopped the best by val loss | answers as without early stop |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const a of r.arms) {
    const stopped = a.stopped.map((s) => `${String(s.rate)} at ${s.at_step}`).join(", ") || "—";
    lines.push(`| ${a.early_stop} | ${a.steps_trained} | ${a.steps_ratio_to_off} | ${a.seconds} | ${a.time_ratio_to_off} | ${a.load_average.map((x) => x.toFixed(1)).join(", ")} | ${stopped} | lr ${String(a.pick.rate)} | ${a.pick_agrees_with_off ? "yes" : "no"} | ${a.stopped_the_best_by_val_loss ? "yes" : "no"} | ${a.same_answers_as_off.same} of ${a.same_answers_as_off.trials} trials |`);
  }
  lines.push("", "The judge's ranking (Bradley–Terry strengths over the finished trials and their base), and the pick against the second:", "");
  for (const a of r.arms) {
    const h = a.pick_vs_runner_up;
    lines.push(`- ${a.early_stop}: ${a.ranking.map((x) => `${x.who} ${x.strength}`).join(" > ")}${h ? `; lr ${String(h.pick)} against lr ${String(h.runner_up)}: wins ${h.win_rate.toFixed(1)}% of ${h.n} prompts (length-controlled 95% ${h.lc_interval[0]!.toFixed(1)}–${h.lc_interval[1]!.toFixed(1)}%)` : ""}`);
  }
  lines.push("", `Best trial by final validation loss without early stopping: learning rate ${String(r.best_by_val_loss_without_early_stop.rate)} (${r.best_by_val_loss_without_early_stop.val_loss?.toFixed(4)}).`);
  lines.push("", "What the trials answered without early stopping (the first three held-out prompts):", "");
  for (const t of r.answers_without_early_stop) lines.push(`- lr ${String(t.rate)}: ${t.first_answers.map((x) => `\`${JSON.stringify(x)}\``).join(", ") || "—"}`);
  lines.push("", "Why each was stopped:", "");
  for (const a of r.arms) for (const s of a.stopped) lines.push(`- ${a.early_stop}, lr ${String(s.rate)}: ${s.why}`);
  lines.push("", "## Reading", "", reading(off!, early, r.best_by_val_loss_without_early_stop.rate));
  return lines.join("\n");
}

/** What the figures say, in words that stay true when they change. */
function reading(off: Result["arms"][number], early: Result["arms"], bestByVal: unknown): string {
  const agree = early.every((a) => a.pick_agrees_with_off);
  const sensible = [off, ...early].every((a) => a.pick_is_sensible);
  const exact = early.every((a) => a.same_answers_as_off.same === a.same_answers_as_off.trials);
  // Were the stopped trials the ones the judge ranks lowest without early stopping?
  const offOrder = off.ranking.filter((x) => x.who !== "base").map((x) => x.who);
  const lowest = early.every((a) => {
    const stopped = new Set(a.stopped.map((s) => `lr ${String(s.rate)}`));
    return offOrder.slice(offOrder.length - stopped.size).every((w) => stopped.has(w));
  });
  const parts = [
    agree && sensible
      ? `With either rule the judge picks what it picks without early stopping, lr ${String(off.pick.rate)}, a sensible rate.`
      : `The picks ${agree ? "agree" : "disagree"} (${[off, ...early].map((a) => `${a.early_stop}: lr ${String(a.pick.rate)}`).join(", ")})${sensible ? "" : ", and not every pick is a sensible rate"}.`,
    early.some((a) => a.stopped_the_pick_without_early_stop) ? "A rule stopped the trial the judge picks without early stopping." : "Neither rule stopped that trial.",
    lowest ? "What they stopped at the warm-up is what the judge ranks lowest without early stopping." : "What they stopped is not all at the bottom of the judge's ranking without early stopping.",
    exact
      ? "The trials paused at their warm-up and resumed answered exactly as the same trials trained straight through, so the arms differ only in which trials the judge ranks."
      : "Some resumed trials answered differently from the same trials trained straight through, which can move the ranking by itself.",
  ];
  const h = off.pick_vs_runner_up;
  if (h && h.lc_interval[0]! <= 50 && h.lc_interval[1]! >= 50) {
    parts.push(
      `But the judge hardly separates the pick from the second: lr ${String(h.pick)} wins ${h.win_rate.toFixed(1)}% of ${h.n} prompts against lr ${String(h.runner_up)}, an interval that includes 50%. The planted preference is for on-task text over garbage, not for one answer-shaped answer over another, so the arms agree because they rank the same answers the same way, not because the judge knows which of the two sensible rates is better.`,
    );
  }
  if (String(bestByVal) !== String(off.pick.rate)) {
    parts.push(`The judge and the validation loss disagree on the best trial: the loss prefers lr ${String(bestByVal)}, the judge lr ${String(off.pick.rate)}. The loss scores how likely the held-out answers are; the judge reads what each trial writes (above): the two part ways when a trial overfits yet writes answer-shaped text, or fits cautiously yet repeats itself.`);
  }
  return parts.join(" ");
}
