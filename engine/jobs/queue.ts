/**
 * FIFO job queue with a concurrency limit (one GPU job at a time by default: two trainings on one
 * GPU slow each other down and risk out-of-memory for both). A queued job can be withdrawn; a
 * running one is cancelled through its own handle.
 */
export interface Job {
  key: string;
  run: () => Promise<void>;
  /** Asks a running job to stop; the job's run() settles when it has. */
  cancel: () => void;
}

export class JobQueue {
  private readonly waiting: Job[] = [];
  private readonly active = new Map<string, Job>();
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly concurrency = 1) {}

  enqueue(job: Job): void {
    if (this.has(job.key)) throw new Error(`job ${job.key} is already queued or running`);
    this.waiting.push(job);
    this.pump();
  }

  has(key: string): boolean {
    return this.active.has(key) || this.waiting.some((j) => j.key === key);
  }

  isRunning(key: string): boolean {
    return this.active.has(key);
  }

  /** Position in the queue (1 = next), 0 when running, -1 when unknown. */
  position(key: string): number {
    if (this.active.has(key)) return 0;
    const i = this.waiting.findIndex((j) => j.key === key);
    return i < 0 ? -1 : i + 1;
  }

  /** Withdraw a queued job (true) or ask a running one to stop (false); undefined when unknown. */
  cancel(key: string): boolean | undefined {
    const i = this.waiting.findIndex((j) => j.key === key);
    if (i >= 0) {
      this.waiting.splice(i, 1);
      this.settleIdle();
      return true;
    }
    const running = this.active.get(key);
    if (!running) return undefined;
    running.cancel();
    return false;
  }

  get size(): { running: number; waiting: number } {
    return { running: this.active.size, waiting: this.waiting.length };
  }

  /** Resolves when nothing is running or waiting. */
  idle(): Promise<void> {
    if (this.active.size === 0 && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (this.active.size < this.concurrency && this.waiting.length > 0) {
      const job = this.waiting.shift()!;
      this.active.set(job.key, job);
      void job
        .run()
        .catch(() => {
          /* jobs record their own failures in the run store */
        })
        .finally(() => {
          this.active.delete(job.key);
          this.pump();
          this.settleIdle();
        });
    }
  }

  private settleIdle(): void {
    if (this.active.size > 0 || this.waiting.length > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
