/**
 * The run store: one folder per run under $WHETSTONE_HOME/runs, the single source of truth for the
 * CLI and the UI. Layout of a run folder:
 *
 *   config.json          resolved config (what the worker trains with)
 *   config.source.yaml   the user's file as written, when there was one
 *   status.json          RunStatus, rewritten atomically on every change
 *   metrics.jsonl        one line per optimizer step, append-only (a resumed run re-appends the
 *                        steps after its checkpoint; readers keep the last line for each step)
 *   log.txt              worker stderr and engine notes, append-only
 *   data/                normalized data snapshot + manifest (source path and content hash)
 *   checkpoints/         step-XXXXXXXX folders written by the worker (manifest last, then rename)
 *   outputs/             final artefacts (adapter/, model/)
 *   cancel.request       present while a cancel from another process is pending
 *
 * Several processes may read a run; only its owner (status.owner_pid) writes status and metrics.
 * A run left queued or running by a process that no longer exists is reported as interrupted.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import type { RunConfig } from "../config/schema";
import { appendLine, writeFileAtomic, writeJsonAtomic } from "../util/atomic";
import { guardDisk, isDiskFull } from "../util/disk";
import { WhetstoneError } from "../util/errors";
import { ACTIVE_STATES, RunStatusSchema, type RunStatus } from "./types";

export type MetricsRow = Record<string, number | null> & { step: number };

export class RunStore {
  readonly runsDir: string;

  constructor(readonly home: string) {
    this.runsDir = join(home, "runs");
    mkdirSync(this.runsDir, { recursive: true });
  }

  runDir(id: string): string {
    return join(this.runsDir, id);
  }

  /** Make the run folder and its first status. The caller adds the data snapshot. */
  create(config: RunConfig, source?: string): RunStatus {
    const id = newRunId(config.name);
    const dir = this.runDir(id);
    try {
      guardDisk(this.runsDir, "a new run folder", () => {
        mkdirSync(join(dir, "checkpoints"), { recursive: true });
        mkdirSync(join(dir, "outputs"), { recursive: true });
        writeFileSync(join(dir, "log.txt"), "");
        writeFileSync(join(dir, "metrics.jsonl"), "");
      });
      writeJsonAtomic(join(dir, "config.json"), config);
      if (source !== undefined) writeFileAtomic(join(dir, "config.source.yaml"), source);
    } catch (e) {
      rmSync(dir, { recursive: true, force: true }); // a half-made folder is not a run
      throw e;
    }
    const now = new Date().toISOString();
    const status: RunStatus = {
      id,
      name: config.name,
      method: config.method,
      state: "queued",
      created_at: now,
      updated_at: now,
      started_at: null,
      finished_at: null,
      step: 0,
      total_steps: null,
      first_loss: null,
      last_loss: null,
      eta_s: null,
      phase: null,
      owner_pid: process.pid,
      worker_pid: null,
      last_checkpoint: null,
      outputs: {},
      error: null,
      attempts: 0,
      device: null,
    };
    try {
      writeJsonAtomic(join(dir, "status.json"), status);
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    return status;
  }

  /** Remove a run folder that never became a run (its data was refused before it was queued). */
  discard(id: string): void {
    rmSync(this.runDir(id), { recursive: true, force: true });
  }

  /** Accept a full id, a unique id prefix, or a unique run name (newest wins on ties by name). */
  resolve(ref: string): string {
    if (existsSync(join(this.runDir(ref), "status.json"))) return ref;
    const ids = this.ids();
    const byPrefix = ids.filter((id) => id.startsWith(ref));
    if (byPrefix.length === 1) return byPrefix[0]!;
    const byName = ids.filter((id) => this.tryRead(id)?.name === ref);
    if (byName.length >= 1 && byPrefix.length === 0) return byName.sort().at(-1)!;
    if (byPrefix.length > 1) {
      throw new WhetstoneError({
        code: "RUN_AMBIGUOUS",
        message: `'${ref}' matches ${byPrefix.length} runs: ${byPrefix.slice(0, 5).join(", ")}`,
        hint: "Give more of the run id.",
      });
    }
    throw new WhetstoneError({
      code: "RUN_NOT_FOUND",
      message: `No run '${ref}' in ${this.runsDir}`,
      hint: "`whetstone runs` lists the runs; WHETSTONE_HOME picks the data folder.",
    });
  }

  get(id: string): RunStatus {
    const status = this.tryRead(id);
    if (!status) throw new WhetstoneError({ code: "RUN_NOT_FOUND", message: `No readable status for run ${id}`, hint: "`whetstone runs` lists the runs." });
    return this.reconcile(status);
  }

  list(): RunStatus[] {
    return this.ids()
      .map((id) => this.tryRead(id))
      .filter((s): s is RunStatus => s !== undefined)
      .map((s) => this.reconcile(s))
      .sort((a, b) => b.created_at.localeCompare(a.created_at) || b.id.localeCompare(a.id));
  }

  update(id: string, patch: Partial<RunStatus>): RunStatus {
    const current = this.tryRead(id);
    if (!current) throw new WhetstoneError({ code: "RUN_NOT_FOUND", message: `No run ${id}`, hint: "`whetstone runs` lists the runs." });
    const next: RunStatus = { ...current, ...patch, updated_at: new Date().toISOString() };
    writeJsonAtomic(join(this.runDir(id), "status.json"), next);
    return next;
  }

  config(id: string): RunConfig {
    return JSON.parse(readFileSync(join(this.runDir(id), "config.json"), "utf8")) as RunConfig;
  }

  appendMetrics(id: string, row: MetricsRow): void {
    appendLine(join(this.runDir(id), "metrics.jsonl"), JSON.stringify(row));
  }

  /** Metrics by step; for a step logged twice (after a resume) the last line wins. */
  readMetrics(id: string, sinceStep = 0): MetricsRow[] {
    const byStep = new Map<number, MetricsRow>();
    for (const line of readLines(join(this.runDir(id), "metrics.jsonl"))) {
      try {
        const row = JSON.parse(line) as MetricsRow;
        if (typeof row.step === "number" && row.step > sinceStep) byStep.set(row.step, row);
      } catch {
        /* a torn last line from a crash mid-append */
      }
    }
    return [...byStep.values()].sort((a, b) => a.step - b.step);
  }

  appendLog(id: string, text: string): void {
    appendLine(join(this.runDir(id), "log.txt"), text);
  }

  readLog(id: string, tailLines = 200): string[] {
    return readLines(join(this.runDir(id), "log.txt")).slice(-tailLines);
  }

  requestCancel(id: string): void {
    writeFileAtomic(join(this.runDir(id), "cancel.request"), new Date().toISOString());
  }

  cancelRequested(id: string): boolean {
    return existsSync(join(this.runDir(id), "cancel.request"));
  }

  clearCancel(id: string): void {
    rmSync(join(this.runDir(id), "cancel.request"), { force: true });
  }

  private ids(): string[] {
    if (!existsSync(this.runsDir)) return [];
    return readdirSync(this.runsDir).filter((name) => {
      const dir = this.runDir(name);
      return !name.startsWith(".") && statSync(dir).isDirectory() && existsSync(join(dir, "status.json"));
    });
  }

  private tryRead(id: string): RunStatus | undefined {
    try {
      const parsed = RunStatusSchema.safeParse(JSON.parse(readFileSync(join(this.runDir(id), "status.json"), "utf8")));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }

  /** A run whose owner process is gone cannot be running: say so, on disk, once. */
  private reconcile(status: RunStatus): RunStatus {
    if (!ACTIVE_STATES.includes(status.state) || status.owner_pid === null || isAlive(status.owner_pid)) return status;
    if (status.owner_pid === process.pid) return status;
    const what = status.state === "running" ? `at step ${status.step} without finishing it` : "before the run started";
    const patch: Partial<RunStatus> = {
      state: "interrupted",
      owner_pid: null,
      worker_pid: null,
      finished_at: new Date().toISOString(),
      error: {
        code: "ENGINE_EXITED",
        message: `The Whetstone process that owned this run (pid ${status.owner_pid}) exited ${what}.`,
        hint: `Resume it with \`whetstone resume ${status.id}\`; it continues from the last checkpoint.`,
        recoverable: true,
      },
    };
    try {
      return this.update(status.id, patch);
    } catch (e) {
      // Reading must work on a full disk: report the state without recording it (the next read tries again).
      if (isDiskFull(e)) return { ...status, ...patch };
      throw e;
    }
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function readLines(path: string): string[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8").split("\n").filter((l) => l.length > 0);
}

function newRunId(name: string): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, "0");
  const stamp = `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
  return `${stamp}-${name}-${randomBytes(2).toString("hex")}`;
}
