/**
 * Every job of this engine and how to cancel it: trainings (TrainJob) and run tasks (audit, export,
 * evaluation, generation, merge), all through one queue, one device lock, and one cancel,
 * `cancel(kind, runId)`.
 *
 * A task is keyed `kind:runId`: one of each kind per run at a time (a comparison counts as an
 * evaluation of its first run, a merge as a merge of its first run). A training is keyed by its
 * run id. A run trained by another process (another CLI) is cancelled through its run folder.
 * A push to the hub runs beside the queue (`detached`): an upload holds no device and may take hours,
 * and a training must not wait behind it; its export, when it needs one, is queued like any export.
 * A training given a slot of a device share (a sweep's trials side by side, ./device-share) also runs
 * beside the queue: the share, not the queue and the lock, decides when it starts.
 */
import { randomBytes } from "node:crypto";
import type { EngineEvent } from "../api/events";
import { isAlive, type RunStore } from "../runs/store";
import { ACTIVE_STATES, type RunStatus } from "../runs/types";
import { WhetstoneError } from "../util/errors";
import { DeviceLock } from "./device-lock";
import { DeviceShare } from "./device-share";
import { JobQueue } from "./queue";
import { TrainJob } from "./train-job";
import type { TaskContext } from "./worker-task";
import type { BoardTaskKind, TaskKind } from "./kinds";


export interface BoardOptions {
  store: RunStore;
  publish: (event: EngineEvent) => void;
  /** Jobs run at once; 1 by default (one GPU). */
  concurrency?: number;
  python?: string;
  workerEnv?: NodeJS.ProcessEnv;
}

const TERMINAL = (s: RunStatus) => !ACTIVE_STATES.includes(s.state);

export class JobBoard {
  private readonly queue: JobQueue;
  private readonly trainings = new Map<string, TrainJob>();
  /** Trainings with a slot of a device share, running or waiting for their slot beside the queue. */
  private readonly sharing = new Map<string, Promise<void>>();
  private readonly tasks = new Map<string, AbortController>();
  private readonly deviceLock: DeviceLock;
  /** Each run's status as last published: the answer when status.json could not be written (full disk). */
  private readonly published = new Map<string, RunStatus>();
  /** waitForRun's listeners for `run` events. */
  private readonly runListeners = new Set<(run: RunStatus) => void>();

  constructor(private readonly opts: BoardOptions) {
    this.queue = new JobQueue(opts.concurrency ?? 1);
    this.deviceLock = new DeviceLock(opts.store.home);
  }

  get size(): { running: number; waiting: number } {
    const { running, waiting } = this.queue.size;
    return { running: running + this.sharing.size, waiting };
  }

  /** With more than one job at a time allowed, the caller has chosen to share the device. */
  lock(): DeviceLock | undefined {
    return (this.opts.concurrency ?? 1) === 1 ? this.deviceLock : undefined;
  }

  /** What a run task needs to start a worker on behalf of a run. */
  taskContext(): TaskContext {
    return { store: this.opts.store, publish: (e) => this.publish(e), python: this.opts.python, workerEnv: this.opts.workerEnv, deviceLock: this.lock() };
  }

  publish(event: EngineEvent): void {
    if (event.type === "run") {
      this.published.set(event.run.id, event.run);
      for (const listener of this.runListeners) listener(event.run);
    }
    this.opts.publish(event);
  }

  /**
   * A share of the device lock for `slots` trainings at once holding at most `budgetBytes` together
   * (the caller planned that they fit); `owner` names it to the runs that wait for it.
   */
  share(owner: string, slots: number, budgetBytes: number): DeviceShare {
    return new DeviceShare(this.lock(), owner, slots, budgetBytes);
  }

  /** Queue a training (or its resume) of a run whose folder is ready; with a slot of a share, start it beside the queue when the share admits it. */
  train(runId: string, mode: "train" | "resume", slot?: { share: DeviceShare; bytes: number }): void {
    const { store } = this.opts;
    const attemptId = randomBytes(6).toString("hex");
    store.update(runId, { attempt_id: attemptId });
    const ctx = { store, publish: (e: EngineEvent) => this.publish(e), python: this.opts.python, workerEnv: this.opts.workerEnv };
    const job = new TrainJob(slot ? { ...ctx, slot } : { ...ctx, deviceLock: this.lock() }, runId, mode, attemptId);
    this.trainings.set(runId, job);
    if (slot) {
      const done = job.run().catch(() => undefined).finally(() => {
        this.trainings.delete(runId);
        this.sharing.delete(runId);
      });
      this.sharing.set(runId, done);
      return;
    }
    this.queue.enqueue({ key: runId, run: () => job.run().finally(() => this.trainings.delete(runId)), cancel: () => job.cancel() });
  }

  /** Run `job` through the queue, one of a kind per run at a time; aborting its signal cancels it. */
  task<T>(kind: BoardTaskKind, runId: string, label: string, job: (signal: AbortSignal) => Promise<T>, busyCode = "TASK_RUNNING"): Promise<T> {
    const { key, controller } = this.claim(kind, runId, label, busyCode);
    return new Promise<T>((resolve, reject) => {
      let started = false;
      controller.signal.addEventListener("abort", () => {
        if (!started) reject(new WhetstoneError({ code: "CANCELLED", message: `The ${label} of ${runId} was cancelled before it started.`, hint: "Run it again." }));
      });
      this.queue.enqueue({
        key,
        cancel: () => controller.abort(),
        run: async () => {
          started = true;
          let settle: () => void;
          try {
            const value = await job(controller.signal);
            settle = () => resolve(value);
          } catch (e) {
            settle = () => reject(e);
          } finally {
            this.tasks.delete(key);
          }
          // Answer once the queue has let go of the key, so the caller can queue the next job at once.
          setImmediate(settle);
        },
      });
    });
  }

  /** Run `job` at once, beside the queue (it holds no device), one of a kind per run; cancelled like a task. */
  detached<T>(kind: BoardTaskKind, runId: string, label: string, job: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const { key, controller } = this.claim(kind, runId, label, "TASK_RUNNING");
    return job(controller.signal).finally(() => this.tasks.delete(key));
  }

  private claim(kind: BoardTaskKind, runId: string, label: string, busyCode: string): { key: string; controller: AbortController } {
    const key = `${kind}:${runId}`;
    if (this.queue.has(key) || this.tasks.has(key)) throw new WhetstoneError({ code: busyCode, message: `${/^[aeiou]/.test(label) ? "An" : "A"} ${label} of ${runId} is already running.`, hint: "Wait for it to finish, or cancel it." });
    const controller = new AbortController();
    this.tasks.set(key, controller);
    return { key, controller };
  }

  /** Cancel a run's job of one kind; true when there was one to cancel. A training ends `cancelled`
   *  after its checkpoint (wait for it with `waitForRun`); a task's promise rejects with CANCELLED. */
  cancel(kind: TaskKind | BoardTaskKind, runId: string): boolean {
    if (kind === "train") return this.cancelTraining(runId);
    const key = `${kind}:${runId}`;
    const controller = this.tasks.get(key);
    if (!controller) return false;
    if (this.queue.cancel(key)) this.tasks.delete(key);
    controller.abort();
    return true;
  }

  private cancelTraining(runId: string): boolean {
    const { store } = this.opts;
    if (this.sharing.has(runId)) {
      this.trainings.get(runId)?.cancel(); // waiting for its slot: it ends cancelled at once; training: it checkpoints
      return true;
    }
    if (this.trainings.has(runId)) {
      if (this.queue.cancel(runId)) {
        this.trainings.delete(runId);
        this.publish({ type: "run", run: store.update(runId, { state: "cancelled", owner_pid: null, finished_at: new Date().toISOString() }) });
      }
      return true;
    }
    const status = store.get(runId);
    if (TERMINAL(status) || status.owner_pid === null || !isAlive(status.owner_pid)) return false;
    store.requestCancel(runId, status.attempt_id ?? null); // another process trains it: ask through the run folder
    return true;
  }

  /** Resolves with the run's status once it is no longer queued or running. */
  waitForRun(runId: string, { pollMs = 1000 }: { pollMs?: number } = {}): Promise<RunStatus> {
    return new Promise((resolve) => {
      const check = () => {
        let s = this.opts.store.get(runId);
        const mem = this.published.get(runId);
        const busy = this.queue.has(runId) || this.sharing.has(runId);
        if (!TERMINAL(s) && mem && TERMINAL(mem) && !busy) s = mem; // its job ended; the disk did not record it
        if (TERMINAL(s) && !busy) {
          this.runListeners.delete(onRun);
          clearInterval(timer);
          resolve(s);
        }
      };
      const onRun = (run: RunStatus) => {
        if (run.id === runId && TERMINAL(run)) setImmediate(check);
      };
      this.runListeners.add(onRun);
      const timer = setInterval(check, pollMs); // also catches runs owned by another process
      check();
    });
  }

  /** The runs this engine trains or has queued. */
  trainingRuns(): string[] {
    return [...this.trainings.keys()];
  }

  /** Resolves when nothing is running or waiting. */
  async idle(): Promise<void> {
    do await Promise.all([this.queue.idle(), ...this.sharing.values()]);
    while (this.sharing.size > 0);
  }
}
