/**
 * How fast the `whetstone` command starts: `whetstone help` and `whetstone runs` (an empty home),
 * each run N times, against two baselines measured in the same run: `node -e 0` (Node's own start,
 * the floor) and the same command through tsx (how the CLI ran before it shipped compiled). Wall
 * time and CPU time (user + system, from the child's rusage) per command; medians, because this
 * machine is shared and noisy. Target: under 300 ms wall for both commands on an idle 2-core machine.
 *
 *   npm run bench -- cli-start [--runs N]
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { PROJECT_ROOT } from "../engine/paths";
import { describeMachine } from "./machine";

interface Timing {
  wall_ms: number;
  cpu_ms: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Runs `node ARGS` once: wall time from hrtime, CPU time from the reaped child's accounting. */
function timeOnce(args: string[], env: NodeJS.ProcessEnv): Timing {
  childCpuMs();
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { cwd: PROJECT_ROOT, env, encoding: "utf8" });
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`node ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return { wall_ms: wall, cpu_ms: childCpuMs() };
}

let lastChildCpu = 0;
/** CPU ms of reaped children since the last call (Linux: /proc/self/stat cutime + cstime, in 10 ms ticks). */
function childCpuMs(): number {
  try {
    const fields = readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ");
    const ticks = Number(fields[13]) + Number(fields[14]);
    const ms = (ticks * 1000) / 100;
    const delta = ms - lastChildCpu;
    lastChildCpu = ms;
    return delta;
  } catch {
    return Number.NaN;
  }
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { runs: { type: "string" }, out: { type: "string" } } });
  const runs = Number(values.runs ?? 15);
  const home = mkdtempSync(join(tmpdir(), "whetstone-cli-start-"));
  mkdirSync(join(home, "runs"), { recursive: true });
  const env = { ...process.env, WHETSTONE_HOME: home };
  const bin = join(PROJECT_ROOT, "bin", "whetstone.mjs");
  const tsxCli = ["--import", "tsx", "-e", `const { main } = await import(${JSON.stringify(join(PROJECT_ROOT, "engine", "cli", "main.ts"))}); process.exitCode = await main(process.argv.slice(1)); setTimeout(() => process.exit(process.exitCode), 50).unref();`];
  const arms: Record<string, string[]> = {
    "node -e 0 (floor)": ["-e", "0"],
    "whetstone help": [bin, "help"],
    "whetstone runs": [bin, "runs"],
    "tsx: whetstone help (before)": [...tsxCli, "help"],
    "tsx: whetstone runs (before)": [...tsxCli, "runs"],
  };
  timeOnce([bin, "help"], env); // builds the bundle if a source changed
  const samples: Record<string, Timing[]> = Object.fromEntries(Object.keys(arms).map((k) => [k, []]));
  // Interleaved, so that a burst of load hits every arm alike.
  for (let i = 0; i < runs; i++) for (const [name, args] of Object.entries(arms)) samples[name]!.push(timeOnce(args, env));
  const rows = Object.entries(samples).map(([name, ts]) => ({ name, wall_ms: median(ts.map((t) => t.wall_ms)), cpu_ms: median(ts.map((t) => t.cpu_ms)) }));
  const floor = rows[0]!;
  const md = [
    "# `whetstone` start-up time",
    "",
    `Median of ${runs} interleaved runs each; CPU = user + system of the child. Floor: Node's own start.`,
    "",
    "| command | wall ms | CPU ms | wall / floor | wall above floor ms |",
    "|---|---|---|---|---|",
    ...rows.map((r) => `| ${r.name} | ${r.wall_ms.toFixed(0)} | ${r.cpu_ms.toFixed(0)} | ${(r.wall_ms / floor.wall_ms).toFixed(2)} | ${(r.wall_ms - floor.wall_ms).toFixed(0)} |`),
    "",
    `Speed-up of the compiled CLI over tsx: help ${(rows[3]!.wall_ms / rows[1]!.wall_ms).toFixed(1)}×, runs ${(rows[4]!.wall_ms / rows[2]!.wall_ms).toFixed(1)}× (wall).`,
    "",
  ].join("\n");
  const out = values.out ?? join(PROJECT_ROOT, "bench", "results");
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "cli-start.json"), JSON.stringify({ machine: describeMachine(), command: `npm run bench -- cli-start --runs ${runs}`, runs, rows }, null, 2) + "\n");
  writeFileSync(join(out, "cli-start.md"), md);
  console.log(md);
}
