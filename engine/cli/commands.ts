/**
 * The `whetstone` run commands. Each takes parsed arguments and the engine's client side (`call`
 * through the contract, `subscribe` to its events), and returns an exit code.
 */
import type { Engine } from "../api/engine";
import type { Nodes, RunStatus } from "../runs/types";
import type { EngineEvent } from "../api/events";
import type { PreflightPolicy } from "../api/contract";
import { RunConfigSchema, objectShape } from "../config/schema";
import { serve } from "../server/http";
import { auditPaths, formatAudit } from "../audit/audit";
import { exportsPath, formatExport } from "../export/export";
import type { AuditOptions } from "../audit/schema";
import type { ExportOptions } from "../export/schema";
import type { TaskKind } from "../jobs/kinds";
import { RunProgress } from "./progress";
import { EXIT, type Client, type Io } from "./io";
import { ago, duration, loss, num, table } from "./format";
import { resolve } from "node:path";
import { WhetstoneError } from "../util/errors";

export async function trainCommand(
  engine: Client,
  configPath: string,
  io: Io,
  opts: { json?: boolean; verbose?: boolean; "skip-invalid"?: boolean; preflight?: PreflightPolicy; devices?: number | "auto"; nodes?: Nodes | null },
): Promise<number> {
  // Events sent while the run is being created come before its id is known: the preflight's lines
  // are printed as they come; a "waiting for run X" from the queue is kept and shown once it is.
  const early: EngineEvent[] = [];
  const stop = engine.subscribe((e) => {
    if (e.type === "preflight") io.out.write(e.text + "\n");
    else if (e.type === "progress" && e.progress.phase === "waiting") early.push(e);
  });
  let run: RunStatus;
  try {
    run = await engine.call("createRun", {
      configPath,
      preflight: opts.preflight ?? "auto",
      ...(opts["skip-invalid"] ? { skipInvalid: true } : {}),
      ...(opts.devices !== undefined ? { devices: opts.devices } : {}),
      ...(opts.nodes ? { nodes: opts.nodes } : {}),
    });
  } catch (e) {
    if ((e as { code?: string }).code === "PREFLIGHT_DOES_NOT_FIT") return EXIT.failed; // its lines, with the advice, are printed
    throw e;
  } finally {
    stop();
  }
  const progress = new RunProgress(run.id, io.out, opts.verbose);
  io.out.write(`run ${run.id}\n  folder ${(await engine.call("getRun", { id: run.id })).dir}\n`);
  for (const e of early) progress.handle(e);
  engine.subscribe((e) => progress.handle(e));
  return follow(engine, run, progress, io, opts);
}

export async function resumeCommand(engine: Client, ref: string, io: Io, opts: { json?: boolean; verbose?: boolean }): Promise<number> {
  const run = await engine.call("resumeRun", { id: ref });
  const progress = new RunProgress(run.id, io.out, opts.verbose);
  engine.subscribe((e) => {
    progress.handle(e);
    // The worker says which checkpoint it resumes from (the newest that verifies), not status.json's guess.
    if (e.type !== "resuming" || e.runId !== run.id) return;
    for (const s of e.skipped) progress.line(`skipping checkpoint ${s.name}: ${s.reason}`);
    progress.line(`resuming ${run.id} from ${e.path ? `the checkpoint at step ${e.step}` : "the start (no checkpoint verified)"}`);
  });
  return follow(engine, run, progress, io, opts);
}

async function follow(engine: Client, run: RunStatus, progress: RunProgress, io: Io, opts: { json?: boolean }): Promise<number> {
  io.onInterrupt(() => {
    progress.line("Cancelling: the run stops at the next step and writes a checkpoint (Ctrl-C again to quit at once).");
    void engine.call("cancelRun", { id: run.id });
  });
  const final = await engine.call("awaitRun", { id: run.id });
  progress.finish();
  if (opts.json) io.out.write(JSON.stringify(final, null, 2) + "\n");
  else io.out.write(summary(final, rewardLine(await engine.call("getMetrics", { id: run.id }))) + "\n");
  if (final.state === "completed") return EXIT.ok;
  if (final.state === "cancelled") return EXIT.cancelled;
  return final.state === "interrupted" ? EXIT.interrupted : EXIT.failed;
}

/** grpo's measure: the mean reward of the first and the last three steps (null for runs without rewards). */
function rewardLine(metrics: Record<string, number | null>[]): string | null {
  const rewards = metrics.map((m) => m.reward).filter((r): r is number => typeof r === "number");
  if (rewards.length === 0) return null;
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return `reward ${num(mean(rewards.slice(0, 3)), 2)} → ${num(mean(rewards.slice(-3)), 2)} (mean of the first and last ${Math.min(3, rewards.length)} steps)`;
}

function summary(s: RunStatus, reward: string | null = null): string {
  const lines = [`${s.state}: ${s.id} at step ${s.step}/${s.total_steps ?? "?"}`];
  if (s.first_loss !== null && s.last_loss !== null) lines.push(`  loss ${loss(s.first_loss)} → ${loss(s.last_loss)}`);
  if (reward) lines.push(`  ${reward}`);
  for (const [k, v] of Object.entries(s.outputs)) lines.push(`  ${k}: ${v}`);
  if (s.error) {
    lines.push(`  error[${s.error.code}]: ${s.error.message}`, `  hint: ${s.error.hint}`);
  }
  if (s.state === "interrupted" || s.state === "cancelled") lines.push(`  resume with: whetstone resume ${s.id}`);
  return lines.join("\n");
}

export async function runsCommand(engine: Client, io: Io, opts: { json?: boolean }): Promise<number> {
  const runs = await engine.call("listRuns", {});
  const { runsDir, damaged } = await engine.call("listDamagedRuns", {});
  const damagedText = damaged.length
    ? [
        `${damaged.length} damaged run folder${damaged.length === 1 ? "" : "s"} (status.json unreadable; checkpoints and outputs untouched):`,
        ...damaged.flatMap((d) => [`  ${d.id}  damaged: ${d.reason}`, `    fix: copy out what you need from ${d.dir} (checkpoints/, outputs/), then delete that folder`]),
      ].join("\n") + "\n"
    : "";
  if (opts.json) {
    io.out.write(JSON.stringify(runs, null, 2) + "\n");
    if (damagedText) io.err(damagedText);
    return EXIT.ok;
  }
  if (runs.length === 0 && damaged.length > 0) {
    io.out.write(damagedText);
    return EXIT.ok;
  }
  if (runs.length === 0) {
    io.out.write(`No runs yet in ${runsDir}.\nStart one with: whetstone train examples/tiny-sft.yaml\n`);
    return EXIT.ok;
  }
  const rows = [["RUN", "STATE", "STEP", "LOSS", "CREATED"]];
  for (const r of runs) {
    rows.push([r.id, r.state, `${r.step}/${r.total_steps ?? "?"}`, r.last_loss === null ? "-" : `${loss(r.first_loss)} → ${loss(r.last_loss)}`, ago(r.created_at)]);
  }
  io.out.write(table(rows) + "\n" + (damagedText ? `\n${damagedText}` : ""));
  return EXIT.ok;
}

export async function showCommand(engine: Client, ref: string, io: Io, opts: { json?: boolean }): Promise<number> {
  const { status: s, config, data, dir, lineage: merged } = await engine.call("getRun", { id: ref });
  const metrics = await engine.call("getMetrics", { id: s.id });
  if (opts.json) {
    io.out.write(JSON.stringify({ status: s, config, data, metrics }, null, 2) + "\n");
    return EXIT.ok;
  }
  const c = config as { model: { path: string }; data: { train: string }; finetune: string; method: string; training: Record<string, unknown> };
  const lines = [
    `run      ${s.id}`,
    `state    ${s.state}${s.phase ? ` (${s.phase})` : ""}`,
    `folder   ${dir}`,
    `method   ${c.method} / ${c.finetune}`,
    `model    ${c.model.path}`,
    `data     ${c.data.train}${data ? `  (${String(data.rows)} rows, sha256 ${String(data.source_sha256).slice(0, 12)}…)` : ""}`,
    `device   ${s.device ?? "-"}${s.nodes ? ` (node 0 of ${s.nodes.nnodes} machines, meeting at ${s.nodes.master_addr}:${s.nodes.master_port})` : ""}`,
    `progress step ${s.step}/${s.total_steps ?? "?"}${s.eta_s ? `, ETA ${duration(s.eta_s)}` : ""}`,
    `created  ${s.created_at}${s.finished_at ? `, finished ${s.finished_at}` : ""}`,
  ];
  if (metrics.length > 0) {
    const first = metrics[0]!;
    const last = metrics.at(-1)!;
    lines.push(`loss     ${loss(first.loss)} (step ${first.step}) → ${loss(last.loss)} (step ${last.step}); ${num(last.tokens_per_s ?? null)} tok/s`);
    const reward = rewardLine(metrics);
    if (reward) lines.push(reward.replace(/^reward /, "reward   "));
  }
  if (s.last_checkpoint) lines.push(`ckpt     step ${s.last_checkpoint.step}: ${s.last_checkpoint.path}`);
  for (const [k, v] of Object.entries(s.outputs)) lines.push(`output   ${k}: ${v}`);
  const lineage = merged as { method?: string; merged_from?: { run_id: string }[]; ingredients?: string[] } | null;
  if (lineage) lines.push(`merged   ${lineage.method} of ${(lineage.ingredients ?? lineage.merged_from?.map((m) => m.run_id) ?? []).join(", ")}`);
  if (s.error) {
    lines.push(`error    [${s.error.code}] ${s.error.message}`, `hint     ${s.error.hint}`);
    for (const d of s.error.details ?? []) lines.push(`         ${d}`);
  }
  if (s.state === "interrupted" || s.state === "cancelled") lines.push(`resume   whetstone resume ${s.id}${s.nodes ? " (and on each other machine, its train command with its --node-rank again)" : ""}`);
  const log = await engine.call("getLog", { id: s.id, tail: 8 });
  if (log.length) lines.push("log (last lines):", ...log.map((l) => `  ${l}`));
  io.out.write(lines.join("\n") + "\n");
  return EXIT.ok;
}

export async function auditCommand(
  engine: Client,
  ref: string,
  io: Io,
  opts: { json?: boolean; samples?: number; prefix?: number; tokens?: number; seed?: number; "embedding-model"?: string },
): Promise<number> {
  const { json } = opts;
  const options: Partial<AuditOptions> = { samples: opts.samples, prefixTokens: opts.prefix, continuationTokens: opts.tokens, seed: opts.seed, embeddingModel: opts["embedding-model"] ?? null };
  const { runId, dir, progress } = await followTask(engine, ref, io, "audit", "Cancelling the audit (the previous report, if any, is kept).");
  io.out.write(`auditing ${runId}: does the tuned model reproduce its training answers?\n`);
  const report = await engine.call("auditRun", { id: runId, ...defined(options) });
  progress.finish();
  if (json) io.out.write(JSON.stringify(report, null, 2) + "\n");
  else io.out.write(`${formatAudit(report)}\n\nreport: ${auditPaths(runFolder(dir), runId).json}\n`);
  return EXIT.ok;
}

export async function exportRunCommand(
  engine: Client,
  ref: string,
  io: Io,
  opts: { json?: boolean; format?: ExportOptions["format"]; out?: string; dtype?: ExportOptions["dtype"]; quant?: ExportOptions["quantization"]; "shard-size"?: number; overwrite?: boolean },
): Promise<number> {
  const { json, format, out } = opts;
  if (!format || !out) throw new WhetstoneError({ code: "USAGE", message: "`whetstone export RUN` needs --format and --out.", hint: "e.g. whetstone export RUN --format gguf --quant q8_0 --out ./my-model-gguf" });
  const options = { format, out: resolve(out), dtype: opts.dtype ?? null, quantization: opts.quant ?? null, overwrite: opts.overwrite ?? false, ...defined({ shardSizeMb: opts["shard-size"] }) };
  const { runId, dir, progress } = await followTask(engine, ref, io, "export", "Cancelling the export (its partial files are removed).");
  io.out.write(`exporting ${runId} as ${options.format} to ${options.out}\n`);
  let record;
  try {
    record = await engine.call("exportRun", { id: runId, ...options });
  } catch (e) {
    progress.finish();
    if ((e as { code?: string }).code !== "CANCELLED") throw e;
    io.err(`export of ${runId} cancelled; nothing was written to ${options.out}\n`);
    return EXIT.cancelled;
  }
  progress.finish();
  if (json) io.out.write(JSON.stringify(record, null, 2) + "\n");
  else io.out.write(`${formatExport(record)}\nrecorded in ${exportsPath(runFolder(dir), runId)}\n`);
  return EXIT.ok;
}

export async function cancelCommand(engine: Client, ref: string, io: Io): Promise<number> {
  const s = await engine.call("cancelRun", { id: ref });
  io.out.write(`${s.id}: ${s.state}${s.last_checkpoint ? ` (checkpoint at step ${s.last_checkpoint.step})` : ""}\n`);
  return EXIT.ok;
}

export async function serveCommand(engine: Engine, io: Io, opts: { port?: number; host?: string }): Promise<number> {
  const server = await serve(engine, { port: opts.port, host: opts.host });
  io.out.write(`Whetstone engine listening on ${server.url}\n(token required on every request; Ctrl-C stops the server and cancels running jobs)\n`);
  await new Promise<void>((resolve) => io.onInterrupt(resolve));
  io.out.write("Stopping: running jobs write a checkpoint first…\n");
  await engine.close();
  await server.close();
  return EXIT.ok;
}

/** A task on a run, followed on the terminal: its progress drawn, and Ctrl-C cancelling it (`stopping` says what that does). */
export async function followTask(engine: Client, ref: string, io: Io, kind: TaskKind, stopping: string): Promise<{ runId: string; dir: string; progress: RunProgress }> {
  const { status, dir } = await engine.call("getRun", { id: ref });
  const progress = new RunProgress(status.id, io.out);
  engine.subscribe((e) => progress.handle(e));
  io.onInterrupt(() => {
    progress.line(stopping);
    void engine.call("cancelTask", { id: status.id, kind });
  });
  return { runId: status.id, dir, progress };
}

/** Report paths are named from a run's folder: the one `getRun` answers with. */
export const runFolder = (dir: string) => ({ runDir: () => dir });

/** The options a command was given: unset ones are left to the engine's defaults. */
export function defined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** `whetstone config`: every field with its default and help, straight from the schema. */
export function configReference(): string {
  const lines: string[] = ["# Run config reference (defaults shown; required fields have none)", ""];
  const walk = (schema: unknown, prefix: string, indent: string) => {
    const shape = objectShape(schema);
    if (!shape) return;
    for (const [key, field] of Object.entries(shape)) {
      const f = field as { description?: string; def?: { type?: string; defaultValue?: unknown } };
      const nested = objectShape(field);
      const def = f.def?.type === "default" ? f.def.defaultValue : undefined;
      const help = f.description ?? "";
      if (nested) {
        lines.push(`${indent}${key}:${help ? `  # ${help}` : ""}`);
        walk(field, `${prefix}${key}.`, indent + "  ");
      } else {
        const shown = f.def?.type === "optional" ? "(optional)" : def === undefined ? "(required)" : JSON.stringify(def);
        lines.push(`${indent}${key}: ${shown}${help ? `  # ${help}` : ""}`);
      }
    }
  };
  walk(RunConfigSchema, "", "");
  return lines.join("\n");
}
