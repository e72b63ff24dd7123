/**
 * One training job: a fresh worker, one `train` or `resume` command, every event written into the
 * run store and re-published on the engine's bus. The store is written first, then the bus, so a
 * client that reacts to an event can always read the state it describes.
 *
 * End states: `completed` / `cancelled` from the worker's `done`; `failed` for an error the same
 * config cannot get past (bad model, bad data); `interrupted` for anything resumable (a recoverable
 * error, a killed or crashed worker), with the diagnosis in status.error.
 *
 * On several devices (torchrun), a rank that dies takes the run down with it: rank 0 reports only that
 * a collective failed, so the run ends with what torchrun says about the rank (supervisor/torchrun.ts):
 * "The worker process of rank 1 (of 2) was killed (SIGKILL) at step 3/6", interrupted, resumable.
 *
 * A full disk on the engine's side (status, metrics or log cannot be written) kills the worker at
 * once and ends the run `interrupted` with DISK_FULL: a checkpoint written now would hold steps
 * whose metrics were never recorded, so the run resumes from its last periodic checkpoint. Status
 * writes that fail are kept in memory and published anyway, so a client following the run sees
 * the end even when status.json could not record it.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { RunStore, MetricsRow } from "../runs/store";
import type { RunStatus } from "../runs/types";
import type { EngineEvent } from "../api/events";
import { helloDevice, type ErrorInfo, type Metrics, type Progress, type WorkerEvent } from "../protocol/messages";
import { WorkerSession } from "../supervisor/session";
import { diagnoseDeath, type LastKnown } from "../supervisor/diagnose";
import { RankFailures } from "../supervisor/torchrun";
import { WhetstoneError } from "../util/errors";
import { isDiskFull } from "../util/disk";
import { holderName, type DeviceLock, type LockOwner } from "./device-lock";
import type { DeviceShare } from "./device-share";
import { workerDataConfig } from "../data/run-data";
import { deviceCount } from "../supervisor/launcher";

export interface TrainJobContext {
  store: RunStore;
  publish: (event: EngineEvent) => void;
  python?: string;
  workerEnv?: NodeJS.ProcessEnv;
  /** How long a cancelled worker gets to write its checkpoint before it is stopped. */
  cancelGraceMs?: number;
  /** Held while the worker runs: one training per WHETSTONE_HOME, across processes. */
  deviceLock?: DeviceLock;
  /** Instead of the lock: a slot of a share of it (a sweep's trials side by side), planned to hold `bytes`. */
  slot?: { share: DeviceShare; bytes: number };
}

const STATUS_WRITE_INTERVAL_MS = 500;
const CANCEL_POLL_MS = 400;

export class TrainJob {
  private session: WorkerSession | undefined;
  /** Aborted by cancel(): stops the wait for the device, and the worker once it runs. */
  private readonly cancelling = new AbortController();
  /** The first DISK_FULL met writing this run's files; the run stops and ends with it. */
  private diskFull: WhetstoneError | undefined;
  /** The status as this job last set it (status.json may lag behind when the disk is full). */
  private current: RunStatus | undefined;

  constructor(
    private readonly ctx: TrainJobContext,
    readonly runId: string,
    private readonly mode: "train" | "resume",
    /** status.attempt_id of this job: a cancel.request naming another attempt is stale. */
    private readonly attemptId: string | null = null,
  ) {}

  /** Ask the worker to checkpoint and stop (terminated if it does not within the grace period). */
  cancel(): void {
    if (this.cancelling.signal.aborted) return;
    this.log("Cancel requested: the worker stops at the next step and writes a checkpoint.");
    this.cancelling.abort();
  }

  private get cancelRequested(): boolean {
    return this.cancelling.signal.aborted;
  }

  async run(): Promise<void> {
    const { store } = this.ctx;
    const cancelledBeforeStart = () => {
      store.clearCancel(this.runId);
      this.setStatus({ state: "cancelled", finished_at: now(), owner_pid: null, phase: null });
    };
    if (this.cancelRequested || this.cancelFileSaysStop()) return cancelledBeforeStart();
    let release = () => {};
    const { deviceLock, slot } = this.ctx;
    if (deviceLock || slot) {
      const poll = setInterval(() => this.cancelFileSaysStop() && this.cancel(), CANCEL_POLL_MS);
      const device = (owner: LockOwner) => this.waiting(`Waiting for ${holderName(owner)} (pid ${owner.pid}) to finish: one training at a time on this machine.`);
      try {
        release = slot
          ? await slot.share.acquire(this.runId, slot.bytes, {
              signal: this.cancelling.signal,
              device,
              slot: (holders) => this.waiting(`Waiting for a place beside ${holders.map((h) => `run ${h}`).join(", ")}: ${slot.share.owner}.`),
            })
          : await deviceLock!.acquire(this.runId, { signal: this.cancelling.signal, onWait: device });
      } catch {
        return cancelledBeforeStart();
      } finally {
        clearInterval(poll);
      }
    }
    try {
      await this.runWorker();
    } catch (e) {
      this.failUnrecorded(e);
    } finally {
      release();
    }
  }

  /** Why the run does not start yet: in its log, its phase, and a progress event (so a client following the run, the CLI without --verbose, says why nothing moves). */
  private waiting(message: string): void {
    this.log(message);
    this.setStatus({ phase: "waiting" });
    const progress = { phase: "waiting", current: 0, total: null, unit: "run", elapsed_s: 0, eta_s: null, message };
    this.ctx.publish({ type: "progress", runId: this.runId, progress });
  }

  private async runWorker(): Promise<void> {
    const { store } = this.ctx;
    const before = store.get(this.runId);
    const attempt = before.attempts + 1;
    const jobId = `${this.runId}#${attempt}`;
    this.setStatus({
      state: "running",
      started_at: before.started_at ?? now(),
      finished_at: null,
      attempts: attempt,
      owner_pid: process.pid,
      error: null,
      phase: "start",
    });
    this.log(`--- ${this.mode === "resume" ? "resuming" : "starting"} (attempt ${attempt}) ---`);
    const fullAtStart = this.diskFullInfo();
    if (fullAtStart) return this.finish("interrupted", fullAtStart);

    const last: LastKnown = { runId: this.runId, phase: "start", checkpointStep: before.last_checkpoint?.step };
    let lastStatusWrite = 0;
    const onEvent = (event: WorkerEvent) => {
      switch (event.type) {
        case "metrics": {
          last.metrics = event;
          last.phase = "train";
          const row = metricsRow(event);
          this.write(() => store.appendMetrics(this.runId, row));
          const t = Date.now();
          if (t - lastStatusWrite >= STATUS_WRITE_INTERVAL_MS || event.step === event.total_steps) {
            lastStatusWrite = t;
            this.setStatus(statusFromMetrics(event, store.get(this.runId).first_loss));
          }
          this.ctx.publish({ type: "metrics", runId: this.runId, row });
          break;
        }
        case "progress":
          last.progress = event;
          last.phase = event.phase;
          if (event.phase !== "train") this.setStatus({ phase: event.phase, eta_s: event.eta_s });
          this.ctx.publish({ type: "progress", runId: this.runId, progress: progressInfo(event) });
          break;
        case "checkpoint":
          last.checkpointStep = event.step;
          this.log(`checkpoint at step ${event.step}: ${event.path}`);
          this.setStatus({ last_checkpoint: { step: event.step, path: event.path } });
          break;
        case "resuming": {
          this.log(event.path ? `resuming from the checkpoint at step ${event.step}: ${event.path}` : "resuming from the start: no checkpoint verified");
          for (const s of event.skipped) this.log(`${s.name} skipped: ${s.reason}`);
          last.checkpointStep = event.path ? event.step : undefined;
          this.setStatus({ last_checkpoint: event.path ? { step: event.step, path: event.path } : null });
          this.ctx.publish({ type: "resuming", runId: this.runId, step: event.step, path: event.path, skipped: event.skipped });
          break;
        }
        case "log":
          this.log(`[${event.level}] ${event.message}`);
          break;
        case "error":
          this.log(`[error] ${event.code}: ${event.message} (hint: ${event.hint})`);
          break;
        default:
          break;
      }
    };

    const devices = deviceCount(store.config(this.runId).training.devices);
    const ranks = new RankFailures();
    const nodes = before.nodes ?? null;
    if (nodes) {
      // Rank 0 says hello once every machine has joined: say what the run waits for meanwhile.
      const others = nodes.nnodes - 1;
      const message = `Waiting for the other ${others === 1 ? "machine" : `${others} machines`} to join at ${nodes.master_addr}:${nodes.master_port}: each runs the same command with its own --node-rank (1${others > 1 ? `…${others}` : ""}).`;
      this.log(message);
      this.ctx.publish({ type: "progress", runId: this.runId, progress: { phase: "waiting", current: 0, total: null, unit: "node", elapsed_s: 0, eta_s: null, message } });
    }
    // A cancel from another process (cancel.request) is seen from here on, the wait for other machines included.
    const poll = setInterval(() => {
      if (this.cancelFileSaysStop()) this.cancel();
    }, CANCEL_POLL_MS);
    let session: WorkerSession;
    try {
      session = await WorkerSession.start({
        python: this.ctx.python,
        env: this.ctx.workerEnv,
        id: jobId,
        command: (id) => ({ v: 1, type: this.mode, id, run_dir: store.runDir(this.runId), config: this.workerConfig() }),
        devices,
        nodes,
        onOutput: (l) => {
          if (devices > 1 || nodes) ranks.feed(l);
          this.log(l);
        },
        onEvent,
        signal: this.cancelling.signal,
        cancelGraceMs: this.ctx.cancelGraceMs ?? 120_000,
      });
    } catch (e) {
      clearInterval(poll);
      store.clearCancel(this.runId);
      // Cancelled while waiting for the other machines (see WorkerSession.start): the worker was stopped, nothing trained.
      if (nodes && this.cancelRequested) return this.finish("cancelled", null);
      const err = e instanceof WhetstoneError ? e : new WhetstoneError({ code: "WORKER_START_FAILED", message: String(e), hint: "Run `npm install`." });
      for (const d of err.details ?? []) this.log(d);
      this.finish("failed", { code: err.code, message: err.message, hint: err.hint, recoverable: true });
      return;
    }
    this.session = session;
    const { hello } = session;
    this.log(`worker ${hello.worker_version} (pid ${hello.pid}) on ${helloDevice(hello)}; torch ${hello.packages.torch ?? "?"}`);
    this.setStatus({ worker_pid: hello.pid, device: helloDevice(hello) });

    try {
      if (this.diskFull) session.kill();
      const { done, error, exit } = await session.run();
      const final = store.get(this.runId);
      this.setStatus(last.metrics ? statusFromMetrics(last.metrics, final.first_loss) : {});
      const full = this.diskFullInfo();
      const rank = devices > 1 && !done && !full ? ranks.culprit(error) : null;
      if (rank) {
        const diagnosis = diagnoseDeath({ ...exit, code: rank.code, signal: rank.signal }, last, `The worker process of rank ${rank.rank} (of ${devices})`);
        if (error) diagnosis.details.unshift(`rank 0 then failed: ${error.code}: ${error.message}`);
        diagnosis.details.unshift(`torchrun stopped the other process${devices > 2 ? "es" : ""} of the run`);
        for (const d of diagnosis.details) this.log(d);
        this.finish(this.cancelRequested ? "cancelled" : "interrupted", diagnosis);
      } else if (done) {
        const outputs = { ...final.outputs };
        for (const [k, v] of Object.entries(done.result)) if (k.endsWith("_path") && typeof v === "string") outputs[k.replace(/_path$/, "")] = v;
        if (done.status === "cancelled" && full) this.finish("interrupted", full);
        else this.finish(done.status, null, { outputs });
      } else if (error) {
        this.finish(error.recoverable ? "interrupted" : "failed", error);
      } else if (full) {
        this.finish("interrupted", full);
      } else {
        const diagnosis = diagnoseDeath(exit, last);
        for (const d of diagnosis.details) this.log(d);
        this.finish(this.cancelRequested ? "cancelled" : "interrupted", diagnosis);
      }
    } finally {
      clearInterval(poll);
      store.clearCancel(this.runId);
    }
  }

  /** The worker trains on the run's snapshots; a validation split was already applied to them. */
  private workerConfig() {
    const { store } = this.ctx;
    const config = store.config(this.runId);
    const dataDir = join(store.runDir(this.runId), "data");
    const validation = join(dataDir, "validation.jsonl");
    return {
      ...config,
      data: { ...workerDataConfig(config.data), train: join(dataDir, "train.jsonl"), validation: existsSync(validation) ? validation : null, validation_split: 0 },
    };
  }

  private finish(state: "completed" | "cancelled" | "failed" | "interrupted", error: (ErrorInfo & { details?: string[] }) | null, extra: Record<string, unknown> = {}): void {
    if (error) this.log(`run ${state}: ${error.code}: ${error.message}`);
    else this.log(`run ${state}`);
    this.setStatus({ state, error, finished_at: now(), owner_pid: null, worker_pid: null, phase: null, eta_s: state === "completed" ? 0 : null, ...extra });
  }

  private setStatus(patch: Parameters<RunStore["update"]>[1]): void {
    let run: RunStatus | undefined;
    this.write(() => (run = this.ctx.store.update(this.runId, patch)));
    run ??= { ...(this.current ?? this.ctx.store.get(this.runId)), ...patch, updated_at: now() };
    this.current = run;
    this.ctx.publish({ type: "run", run });
  }

  private log(line: string): void {
    this.write(() => this.ctx.store.appendLog(this.runId, line));
    this.ctx.publish({ type: "log", runId: this.runId, line });
  }

  /** A cancel.request for this attempt (true); one for another attempt is stale: logged and removed. */
  private cancelFileSaysStop(): boolean {
    const request = this.ctx.store.cancelRequest(this.runId);
    if (!request) return false;
    if (this.attemptId === null || request.attempt_id === this.attemptId) return true;
    this.ctx.store.clearCancel(this.runId);
    this.log(
      `Ignored a stale cancel request${request.requested_at ? ` from ${request.requested_at}` : ""} ` +
        `(it names ${request.attempt_id ? `attempt ${request.attempt_id}` : "no attempt"}; this is attempt ${this.attemptId}); removed it.`,
    );
    return false;
  }

  /** The engine itself failed while running the job (not a worker error): end the run where a
   *  follower can see it, instead of leaving it `running` with a waiting CLI forever. */
  private failUnrecorded(e: unknown): void {
    this.session?.kill();
    const error = {
      code: "ENGINE_ERROR",
      message: `The engine failed while running this job: ${e instanceof Error ? e.message : String(e)}`,
      hint: `Resume it with \`whetstone resume ${this.runId}\`; it continues from the last checkpoint. If it happens again, the run's log has the details.`,
      recoverable: true,
    };
    try {
      this.finish("interrupted", error);
    } catch {
      const run = { ...(this.current ?? this.ctx.store.get(this.runId)), state: "interrupted" as const, error, owner_pid: null, worker_pid: null, phase: null, finished_at: now() };
      this.current = run;
      this.ctx.publish({ type: "run", run });
    }
  }

  private diskFullInfo(): (ErrorInfo & { details?: string[] }) | undefined {
    const e = this.diskFull;
    return e ? { code: e.code, message: e.message, hint: e.hint, recoverable: true } : undefined;
  }

  /** Run a write to the run folder; a full disk is remembered and stops the run instead of throwing. */
  private write(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      if (!isDiskFull(e)) throw e;
      if (this.diskFull) return;
      this.diskFull = e as WhetstoneError;
      this.ctx.publish({ type: "log", runId: this.runId, line: `${this.diskFull.format()}\nStopping the run; it resumes from its last checkpoint.` });
      this.session?.kill();
    }
  }
}

function metricsRow(event: Metrics): MetricsRow {
  const row: MetricsRow = { step: event.step };
  for (const [k, v] of Object.entries(event)) {
    if (k === "v" || k === "type" || k === "id") continue;
    if (typeof v === "number" || v === null) row[k] = v;
  }
  return row;
}

function statusFromMetrics(m: Metrics, firstLoss: number | null) {
  return {
    step: m.step,
    total_steps: m.total_steps,
    last_loss: m.loss,
    first_loss: firstLoss ?? m.loss,
    eta_s: m.eta_s,
    phase: "train",
  };
}

function progressInfo(p: Progress) {
  return { phase: p.phase, current: p.current, total: p.total, unit: p.unit, elapsed_s: p.elapsed_s, eta_s: p.eta_s, message: p.message };
}

const now = () => new Date().toISOString();
