/**
 * One training at a time per machine, across processes: a `whetstone train` in a second terminal
 * (or the app and the CLI together) waits for the first instead of fighting it for the GPU.
 *
 * The lock is a file in $WHETSTONE_HOME created with O_EXCL, holding the owner's pid and run. A
 * lock whose pid is gone is stale (the owner crashed or was killed) and is taken over. Polling is
 * crude but portable (no flock on Windows) and costs nothing at one check a second.
 */
import { openSync, closeSync, writeSync, readFileSync, rmSync, renameSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { isAlive } from "../runs/store";

export interface LockOwner {
  pid: number;
  token: string;
  runId: string;
  since: string;
  /** What holds it, in words, when not one run (e.g. "sweep 20261124-…, 2 trials at a time"). */
  what?: string;
}

/** The holder as a waiter names it: "run ID", or what it says it is. */
export function holderName(owner: LockOwner): string {
  return owner.what ?? `run ${owner.runId}`;
}

export class DeviceLock {
  readonly path: string;

  constructor(home: string, name = "device") {
    this.path = join(home, `${name}.lock`);
  }

  /** Take the lock for `runId`, waiting while another live owner holds it. */
  async acquire(runId: string, opts: { pollMs?: number; onWait?: (owner: LockOwner) => void; signal?: AbortSignal; what?: string } = {}): Promise<() => void> {
    const me: LockOwner = { pid: process.pid, token: randomBytes(8).toString("hex"), runId, since: new Date().toISOString(), ...(opts.what ? { what: opts.what } : {}) };
    let reported = false;
    for (;;) {
      if (opts.signal?.aborted) throw new Error("aborted");
      if (this.tryCreate(me)) return () => this.release(me);
      const owner = this.owner();
      if (owner && !isAlive(owner.pid)) {
        this.breakStale(owner);
        continue;
      }
      if (owner && !reported) {
        reported = true;
        opts.onWait?.(owner);
      }
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 1000));
    }
  }

  owner(): LockOwner | undefined {
    try {
      return JSON.parse(readFileSync(this.path, "utf8")) as LockOwner;
    } catch {
      return undefined; // absent, or being written this instant
    }
  }

  private tryCreate(me: LockOwner): boolean {
    let fd: number;
    try {
      fd = openSync(this.path, "wx");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw e;
    }
    try {
      writeSync(fd, JSON.stringify(me));
    } finally {
      closeSync(fd);
    }
    return true;
  }

  private breakStale(owner: LockOwner): void {
    // Rename first, so two processes breaking the same stale lock cannot delete a fresh one.
    const aside = `${this.path}.stale-${process.pid}-${randomBytes(3).toString("hex")}`;
    try {
      if (this.owner()?.token !== owner.token) return;
      renameSync(this.path, aside);
      rmSync(aside, { force: true });
    } catch {
      /* someone else broke it first */
    }
  }

  private release(me: LockOwner): void {
    if (this.owner()?.token === me.token) rmSync(this.path, { force: true });
  }
}
