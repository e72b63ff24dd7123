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
 *   cancel.request       a cancel from another process: {attempt_id, requested_at, pid}; it
 *                        applies only to the attempt it names (a leftover is stale and ignored)
 *
 * Several processes may read a run; only its owner (status.owner_pid) writes status and metrics.
 * A run left queued or running by a process that no longer exists is reported as interrupted.
 *
 * Run references (ids, prefixes, names) are folder names, never paths: resolve() refuses `/`, `\`,
 * `..` and absolute paths (RUN_ID_INVALID), so no request can read or act on a folder outside
 * this data home's runs/. A folder whose status.json cannot be read is listed as damaged.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { randomBytes } from "node:crypto";
import type { RunConfig } from "../config/schema";
import { appendLine, overwriteInPlace, writeFileAtomic, writeJsonAtomic } from "../util/atomic";
import { guardDisk, isDiskFull } from "../util/disk";
import { WhetstoneError } from "../util/errors";
import { ACTIVE_STATES, RoundSamplesSchema, RunStatusSchema, type RoundSamples, type RunStatus } from "./types";

export type MetricsRow = Record<string, number | null> & { step: number };

/** A run folder whose status.json is unreadable: listed by `whetstone runs`, explained by `show`. */
export interface DamagedRun {
  id: string;
  dir: string;
  reason: string;
}

export interface CancelRequest {
  /** The attempt the cancel was meant for (status.attempt_id when it was written); null in an old or foreign file. */
  attempt_id: string | null;
  requested_at: string | null;
}

export class RunStore {
  readonly runsDir: string;

  constructor(readonly home: string) {
    this.runsDir = join(home, "runs");
    mkdirSync(this.runsDir, { recursive: true });
  }

  runDir(id: string): string {
    checkRunRef(id);
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
    checkRunRef(ref);
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
    if (!status) {
      const damage = this.damage(id);
      if (damage) throw damagedError(damage);
      throw new WhetstoneError({ code: "RUN_NOT_FOUND", message: `No run ${id} in ${this.runsDir}`, hint: "`whetstone runs` lists the runs." });
    }
    return this.reconcile(status);
  }

  /** Run folders whose status.json exists but cannot be read or is not a run status. */
  damaged(): DamagedRun[] {
    return this.ids()
      .map((id) => this.damage(id))
      .filter((d): d is DamagedRun => d !== undefined)
      .sort((a, b) => b.id.localeCompare(a.id));
  }

  private damage(id: string): DamagedRun | undefined {
    const dir = this.runDir(id);
    const file = join(dir, "status.json");
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return undefined;
      return { id, dir, reason: `status.json cannot be read (${code ?? String(e)})` };
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (e) {
      return { id, dir, reason: text.trim() === "" ? "status.json is empty" : `status.json is not valid JSON (${(e as Error).message})` };
    }
    const parsed = RunStatusSchema.safeParse(raw);
    if (parsed.success) return undefined;
    const issue = parsed.error.issues[0]!;
    return { id, dir, reason: `status.json is not a run status (${issue.path.join(".") || "top level"}: ${issue.message})` };
  }

  list(): RunStatus[] {
    return this.ids()
      .map((id) => this.tryRead(id))
      .filter((s): s is RunStatus => s !== undefined)
      .map((s) => this.reconcile(s))
      .sort((a, b) => b.created_at.localeCompare(a.created_at) || b.id.localeCompare(a.id));
  }

  update(id: string, patch: Partial<RunStatus>, inPlaceWhenFull = true): RunStatus {
    const current = this.tryRead(id);
    if (!current) throw new WhetstoneError({ code: "RUN_NOT_FOUND", message: `No run ${id}`, hint: "`whetstone runs` lists the runs." });
    const next: RunStatus = { ...current, ...patch, updated_at: new Date().toISOString() };
    const file = join(this.runDir(id), "status.json");
    try {
      writeJsonAtomic(file, next);
    } catch (e) {
      // A run that ends on a full disk must still say so: the end state goes over the old file in place.
      if (!isDiskFull(e) || !inPlaceWhenFull || ACTIVE_STATES.includes(next.state)) throw e;
      try {
        overwriteInPlace(file, JSON.stringify(next, null, 2) + "\n");
      } catch {
        throw e;
      }
    }
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

  /** grpo's logged rounds (samples.jsonl, written by the worker), the last `tail`; a round logged twice (after a resume): the last line. */
  readSamples(id: string, tail = 20): RoundSamples[] {
    const byRound = new Map<number, RoundSamples>();
    for (const line of readLines(join(this.runDir(id), "samples.jsonl"))) {
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        continue; // a torn last line from a crash mid-append
      }
      const row = RoundSamplesSchema.safeParse(value);
      if (row.success) byRound.set(row.data.round, row.data);
    }
    return [...byRound.values()].sort((a, b) => a.round - b.round).slice(-tail);
  }

  appendLog(id: string, text: string): void {
    appendLine(join(this.runDir(id), "log.txt"), text);
  }

  readLog(id: string, tailLines = 200): string[] {
    return readLines(join(this.runDir(id), "log.txt")).slice(-tailLines);
  }

  /** Ask the process that owns the run to cancel attempt `attemptId` (status.attempt_id). */
  requestCancel(id: string, attemptId: string | null): void {
    const request = { attempt_id: attemptId, requested_at: new Date().toISOString(), pid: process.pid };
    writeJsonAtomic(join(this.runDir(id), "cancel.request"), request);
  }

  /** The pending cancel request, if any (a file that is not JSON reads as one with no attempt). */
  cancelRequest(id: string): CancelRequest | undefined {
    let text: string;
    try {
      text = readFileSync(join(this.runDir(id), "cancel.request"), "utf8");
    } catch {
      return undefined;
    }
    try {
      const raw = JSON.parse(text) as Partial<CancelRequest>;
      return { attempt_id: typeof raw.attempt_id === "string" ? raw.attempt_id : null, requested_at: typeof raw.requested_at === "string" ? raw.requested_at : null };
    } catch {
      return { attempt_id: null, requested_at: text.trim().slice(0, 40) || null };
    }
  }

  cancelRequested(id: string): boolean {
    return this.cancelRequest(id) !== undefined;
  }

  clearCancel(id: string): void {
    rmSync(join(this.runDir(id), "cancel.request"), { force: true });
  }

  private ids(): string[] {
    if (!existsSync(this.runsDir)) return [];
    return readdirSync(this.runsDir).filter((name) => {
      if (name.startsWith(".")) return false;
      const dir = join(this.runsDir, name);
      try {
        return statSync(dir).isDirectory() && existsSync(join(dir, "status.json"));
      } catch {
        return false; // a broken link or an entry that vanished while listing
      }
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
    // Its engine is gone but its worker is not: the worker is writing its last checkpoint before it
    // exits (it watches its parent). Until then the run is still stopping; a resume now would race it.
    if (status.worker_pid !== null && isAlive(status.worker_pid)) return status;
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
      return this.update(status.id, patch, false);
    } catch (e) {
      // Reading must work on a full disk: report the state without recording it (the next read tries again).
      if (isDiskFull(e)) return { ...status, ...patch };
      throw e;
    }
  }
}

/** A run reference is a folder name under runs/ (an id, a prefix of one, or a run name), never a path. */
export function checkRunRef(ref: string): void {
  const bad =
    ref.length === 0 ? "it is empty"
    : /[\/\\]/.test(ref) ? "it contains a path separator"
    : ref === "." || ref === ".." || ref.startsWith(".") ? "it starts with a dot"
    : isAbsolute(ref) ? "it is an absolute path"
    : /[\x00-\x1f]/.test(ref) ? "it contains control characters"
    : ref.length > 200 ? "it is longer than 200 characters"
    : undefined;
  if (!bad) return;
  throw new WhetstoneError({
    code: "RUN_ID_INVALID",
    message: `'${ref.replace(/[\x00-\x1f]/g, "?").slice(0, 80)}' is not a run id or name: ${bad}.`,
    hint: "Give a run id, a unique prefix of one, or a run name, as `whetstone runs` lists them; runs outside this data folder cannot be named.",
  });
}

function damagedError(d: DamagedRun): WhetstoneError {
  return new WhetstoneError({
    code: "RUN_DAMAGED",
    message: `Run ${d.id} is damaged: ${d.reason}.`,
    hint: `Its checkpoints and outputs in ${d.dir} are untouched. If you still need them, copy them out (checkpoints/, outputs/), then delete the folder to remove the run from the list.`,
    where: join(d.dir, "status.json"),
  });
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

/** A new id: the local time, the name and 4 random hex digits (runs, sweeps and round loops are named alike). */
export function newRunId(name: string): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, "0");
  const stamp = `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
  return `${stamp}-${name}-${randomBytes(2).toString("hex")}`;
}
