/**
 * The device lock, held for several trainings at once (a sweep's trials side by side, issue #19).
 *
 * A training normally takes the machine's device lock (./device-lock) for itself: one at a time.
 * A share is the explicit way past that rule: its owner (the sweep) has planned how many of its
 * trainings fit (plan/side-by-side) and opens the share with that many slots and the memory they may
 * hold together. The share takes the device lock once, on behalf of all of them, while any of them
 * trains (to other processes and other runs of this engine it is one holder, and they wait for it as
 * for any training), and admits a training when a slot is free and its planned memory (peak and
 * margin) fits beside the ones admitted. A training alone is always admitted, as it would be without
 * a share. When the last one leaves, the device lock is released.
 */
import type { DeviceLock, LockOwner } from "./device-lock";

export interface ShareWait {
  /** Waiting for a slot: `holders` are the runs training now. */
  slot?: (holders: string[]) => void;
  /** Waiting for the device lock, held by another process or another of this engine's runs. */
  device?: (owner: LockOwner) => void;
  signal?: AbortSignal;
}

interface Waiter {
  runId: string;
  bytes: number;
  admit: () => void;
  notify?: (holders: string[]) => void;
  /** The holders it was last told about. */
  told?: string;
}

export class DeviceShare {
  private readonly admitted = new Map<string, number>();
  private readonly waiting: Waiter[] = [];
  /** The device lock while any training is admitted: its release once taken, and the switch that stops the wait for it. */
  private lock: { taken: Promise<() => void>; stop: AbortController; blockedBy: LockOwner | null } | null = null;
  private readonly deviceWaiters = new Set<(owner: LockOwner) => void>();

  constructor(
    /** The machine's device lock (none when the engine was told to share the device anyway). */
    private readonly deviceLock: DeviceLock | undefined,
    /** Who holds the lock, as other processes name it (e.g. "sweep 20261124-…, 2 trials at a time"). */
    readonly owner: string,
    readonly slots: number,
    /** The memory the admitted trainings may plan to hold together. */
    readonly budgetBytes: number,
  ) {}

  /** Runs admitted now. */
  holders(): string[] {
    return [...this.admitted.keys()];
  }

  /**
   * Wait for a slot for `runId` (planned to hold `bytes`), then for the device; resolves with the
   * release. Rejects when the signal aborts first.
   */
  async acquire(runId: string, bytes: number, wait: ShareWait = {}): Promise<() => void> {
    if (wait.signal?.aborted) throw new Error("aborted");
    await new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { runId, bytes, admit: resolve, notify: wait.slot };
      const onAbort = () => {
        const i = this.waiting.indexOf(waiter);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(new Error("aborted"));
      };
      waiter.admit = () => {
        wait.signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      wait.signal?.addEventListener("abort", onAbort, { once: true });
      this.waiting.push(waiter);
      this.pump();
    });
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.admitted.delete(runId);
      if (this.admitted.size === 0 && this.lock) {
        const { taken, stop } = this.lock;
        this.lock = null;
        stop.abort(); // still waiting for it: stop waiting
        void taken.then((free) => free()).catch(() => undefined);
      }
      this.pump();
    };
    try {
      if (wait.device) this.deviceWaiters.add(wait.device);
      await this.takeDevice(wait.signal, wait.device);
    } catch (e) {
      release();
      throw e;
    } finally {
      if (wait.device) this.deviceWaiters.delete(wait.device);
    }
    return release;
  }

  private admits(bytes: number): boolean {
    if (this.admitted.size === 0) return true;
    if (this.admitted.size >= this.slots) return false;
    const used = [...this.admitted.values()].reduce((a, b) => a + b, 0);
    return used + bytes <= this.budgetBytes;
  }

  /** Admit waiting trainings in order while they fit (the first that does not fit waits, and those behind it). */
  private pump(): void {
    while (this.waiting.length > 0 && this.admits(this.waiting[0]!.bytes)) {
      const w = this.waiting.shift()!;
      this.admitted.set(w.runId, w.bytes);
      w.admit();
    }
    const holders = this.holders();
    for (const w of this.waiting) {
      if (w.told === holders.join()) continue;
      w.told = holders.join();
      w.notify?.(holders);
    }
  }

  /** The device lock, taken by the first admitted training and shared by the rest. */
  private takeDevice(signal: AbortSignal | undefined, joining?: (owner: LockOwner) => void): Promise<void> {
    if (!this.deviceLock) return Promise.resolve();
    if (!this.lock) {
      const stop = new AbortController();
      const entry: NonNullable<DeviceShare["lock"]> = { taken: Promise.resolve(() => {}), stop, blockedBy: null };
      entry.taken = this.deviceLock.acquire(this.owner, {
        what: this.owner,
        signal: stop.signal,
        onWait: (owner) => {
          entry.blockedBy = owner;
          this.deviceWaiters.forEach((f) => f(owner));
        },
      });
      entry.taken.catch(() => {
        if (this.lock === entry) this.lock = null;
      });
      this.lock = entry;
    } else if (this.lock.blockedBy) joining?.(this.lock.blockedBy); // joined a wait that is already on
    const taken = this.lock.taken;
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(new Error("aborted"));
      signal?.addEventListener("abort", onAbort, { once: true });
      taken.then(
        () => (signal?.removeEventListener("abort", onAbort), resolve()),
        (e: unknown) => (signal?.removeEventListener("abort", onAbort), reject(e)),
      );
    });
  }
}
