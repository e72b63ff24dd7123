/**
 * What one worker job costs besides its work: a 2-step training of the tiny fixture through the real
 * engine, split into phases read from the engine's events: spawn → hello (Python and torch imports),
 * hello → first step (transformers and peft imports, model and data), steps, and "worker shutting
 * down" → job done (the process's exit, which the engine waits for). Every test that trains, exports,
 * evaluates or audits pays these once per job.
 *
 * Three arms, interleaved so a burst of load hits all alike: the worker as shipped on Linux (forked
 * from the pre-imported fork server, which the warm-up job starts), the worker spawned afresh
 * (WHETSTONE_FORK_SERVER=0: what every job paid before the fork server, and still pays on macOS and
 * Windows), and a spawned worker started through `sys.exit(main())`, which is how it exited before
 * os._exit: with the interpreter's full teardown of torch, transformers and the model. Medians,
 * because this machine is shared and noisy.
 *
 * Then the same job on 2 processes (gloo on the CPU), three ways: the launcher (torchrun's agent,
 * whetstone_worker.launch) forked from the fork server with its ranks forked from it, as shipped on
 * Linux; the launcher spawned, its ranks still forked from it; and torchrun itself, each rank a fresh
 * interpreter, as before.
 *
 *   npm run bench -- worker-job [--runs N]
 */
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Engine } from "../engine/api/engine";
import type { EngineEvent } from "../engine/api/events";
import { PROJECT_ROOT, workerPython } from "../engine/paths";
import { ensureTinyModel, tinyConfig } from "../tests/helpers/fixture";
import { describeMachine } from "./machine";

type Phases = { hello_s: number; first_step_s: number; steps_s: number; exit_s: number; total_s: number };

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** An interpreter wrapper that runs the worker's main() under sys.exit, the way it exited before. */
function teardownPython(dir: string): string {
  const path = join(dir, "python-teardown.sh");
  const main = "import sys; from whetstone_worker.__main__ import main; sys.exit(main())";
  writeFileSync(path, `#!/bin/sh\nif [ "$3" = whetstone_worker ]; then exec "${workerPython()}" -u -c "${main}"; fi\nexec "${workerPython()}" "$@"\n`);
  chmodSync(path, 0o755);
  return path;
}

/** An interpreter wrapper that launches a run on several processes with torchrun itself, each rank a fresh interpreter: how it was launched before whetstone_worker.launch. */
function torchrunPython(dir: string): string {
  const path = join(dir, "python-torchrun.sh");
  writeFileSync(path, `#!/bin/sh\nif [ "$3" = whetstone_worker.launch ]; then shift 3; exec "${workerPython()}" -u -m torch.distributed.run "$@" -m whetstone_worker; fi\nexec "${workerPython()}" "$@"\n`);
  chmodSync(path, 0o755);
  return path;
}

interface Arm {
  python?: string;
  workerEnv?: NodeJS.ProcessEnv;
}

async function oneJob({ python, workerEnv }: Arm, devices = 1): Promise<Phases> {
  const engine = new Engine({ home: mkdtempSync(join(tmpdir(), "whetstone-bench-job-")), python, workerEnv });
  const marks: Record<string, number> = {};
  const t0 = performance.now();
  const at = (k: string) => (marks[k] ??= performance.now());
  engine.events.on("event", (e: EngineEvent) => {
    if (e.type === "log" && /^worker \S+ \(pid/.test(e.line)) at("hello");
    else if (e.type === "metrics" && e.row.step === 1) at("step1");
    else if (e.type === "log" && e.line.includes("worker shutting down")) at("shutdown");
  });
  const run = await engine.createRun({ config: tinyConfig({ training: { max_steps: 2, checkpoint_every: 100, ...(devices > 1 ? { devices, neftune_alpha: 0 } : {}) } }), preflight: "never" });
  const done = await engine.waitForRun(run.id);
  const end = performance.now();
  if (done.state !== "completed") throw new Error(`bench run ended ${done.state}: ${engine.getLog({ id: run.id }).join("\n")}`);
  const s = (a: number, b: number) => (b - a) / 1000;
  return { hello_s: s(t0, marks.hello!), first_step_s: s(marks.hello!, marks.step1!), steps_s: s(marks.step1!, marks.shutdown!), exit_s: s(marks.shutdown!, end), total_s: s(t0, end) };
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { runs: { type: "string" }, out: { type: "string" } } });
  const runs = Number(values.runs ?? 7);
  ensureTinyModel();
  const arms: Record<string, Arm> = {
    "forked (now)": {},
    "spawned, os._exit": { workerEnv: { WHETSTONE_FORK_SERVER: "0" } },
    "spawned, sys.exit teardown (before)": { python: teardownPython(mkdtempSync(join(tmpdir(), "whetstone-bench-py-"))) },
  };
  const first = await oneJob({}); // warms the page cache and starts the fork server: a session's first job
  const samples: Record<string, Phases[]> = Object.fromEntries(Object.keys(arms).map((k) => [k, []]));
  for (let i = 0; i < runs; i++) for (const [name, arm] of Object.entries(arms)) samples[name]!.push(await oneJob(arm));
  // A run on 2 processes (gloo on the CPU): how its launcher and ranks start.
  const pyDir = mkdtempSync(join(tmpdir(), "whetstone-bench-py-"));
  const twoArms: Record<string, Arm> = {
    "launcher forked, ranks forked from it (now)": {},
    "launcher spawned, ranks forked from it": { workerEnv: { WHETSTONE_FORK_SERVER: "0" } },
    "torchrun, each rank a fresh interpreter (before)": { python: torchrunPython(pyDir) },
  };
  await oneJob({}, 2); // untimed: the page cache and the gloo path
  const two: Record<string, Phases[]> = Object.fromEntries(Object.keys(twoArms).map((k) => [k, []]));
  for (let i = 0; i < runs; i++) for (const [name, arm] of Object.entries(twoArms)) two[name]!.push(await oneJob(arm, 2));
  const keys = ["hello_s", "first_step_s", "steps_s", "exit_s", "total_s"] as const;
  const rows = Object.entries(samples).map(([name, xs]) => ({ name, ...Object.fromEntries(keys.map((k) => [k, median(xs.map((x) => x[k]))])) }) as { name: string } & Phases);
  const [forked, spawned, before] = rows as [Phases & { name: string }, Phases & { name: string }, Phases & { name: string }];
  const twoRows = Object.entries(two).map(([name, xs]) => ({ name, ...Object.fromEntries(keys.map((k) => [k, median(xs.map((x) => x[k]))])) }) as { name: string } & Phases);
  const [twoNow, , twoBefore] = twoRows as [Phases & { name: string }, Phases & { name: string }, Phases & { name: string }];
  const md = [
    "# One worker job's fixed costs (2 training steps of the tiny fixture)",
    "",
    `Median of ${runs} interleaved jobs per arm, seconds of wall time, phases from the engine's events.`,
    "",
    "| worker | start → hello | hello → step 1 | steps | shutdown → done | total |",
    "|---|---|---|---|---|---|",
    ...rows.map((r) => `| ${r.name} | ${keys.map((k) => r[k].toFixed(2)).join(" | ")} |`),
    `| first job of a session (starts the fork server; one sample) | ${keys.map((k) => first[k].toFixed(2)).join(" | ")} |`,
    "",
    `Fork: start → step 1 ${((spawned.hello_s + spawned.first_step_s) / (forked.hello_s + forked.first_step_s)).toFixed(1)}× faster than a spawned worker (${(spawned.hello_s + spawned.first_step_s - forked.hello_s - forked.first_step_s).toFixed(2)} s saved per job after the first); whole job forked / spawned = ${(forked.total_s / spawned.total_s).toFixed(2)}.`,
    `Exit: os._exit ${(before.exit_s / spawned.exit_s).toFixed(0)}× faster than the interpreter's teardown (${(before.exit_s - spawned.exit_s).toFixed(2)} s saved per job).`,
    `Spread of the whole job (min–max): ${Object.entries(samples).map(([name, xs]) => `${name} ${Math.min(...xs.map((x) => x.total_s)).toFixed(1)}–${Math.max(...xs.map((x) => x.total_s)).toFixed(1)} s`).join(", ")}.`,
    "",
    "## The same job on 2 processes (`training.devices: 2`, gloo on the CPU)",
    "",
    `Median of ${runs} interleaved jobs per arm. The launcher is torchrun's agent (\`whetstone_worker.launch\`); before, it was torchrun itself, whose ranks each imported torch, transformers and peft afresh.`,
    "",
    "| launch | start → hello | hello → step 1 | steps | shutdown → done | total |",
    "|---|---|---|---|---|---|",
    ...twoRows.map((r) => `| ${r.name} | ${keys.map((k) => r[k].toFixed(2)).join(" | ")} |`),
    "",
    `Start → step 1: ${((twoBefore.hello_s + twoBefore.first_step_s) / (twoNow.hello_s + twoNow.first_step_s)).toFixed(1)}× faster than torchrun (${(twoBefore.hello_s + twoBefore.first_step_s - twoNow.hello_s - twoNow.first_step_s).toFixed(2)} s saved per run); whole job now / before = ${(twoNow.total_s / twoBefore.total_s).toFixed(2)}.`,
    "",
  ].join("\n");
  const out = values.out ?? join(PROJECT_ROOT, "bench", "results");
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "worker-job.json"), JSON.stringify({ machine: describeMachine(), command: `npm run bench -- worker-job --runs ${runs}`, runs, rows, first, samples, two_processes: { rows: twoRows, samples: two } }, null, 2) + "\n");
  writeFileSync(join(out, "worker-job.md"), md);
  console.log(md);
}
