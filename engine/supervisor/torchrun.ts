/**
 * What torchrun says about its ranks, and where they are. A run on several devices is one launcher
 * process (torchrun) that starts a worker per rank; rank 0 speaks the protocol, the others are
 * silent. When a rank dies, rank 0 only sees its collective fail ("Connection reset by peer"), and
 * the engine only sees the launcher exit: who died, and how, is in torchrun's stderr. Its agent logs
 * "failed (exitcode: -9) local_rank: 1 (pid: …)" and a summary with one entry per failed rank
 * ("rank : 1 (local_rank: 1)", "exitcode : -9 (pid: …)"), and for each rank it stops itself
 * "Terminating process … via signal SIGTERM" or "Closing process … via signal SIGTERM" (ranks forked by
 * whetstone_worker/launch.py), "Sending process … closing signal SIGTERM" (torchrun's own ranks, each a
 * fresh interpreter). Its own "root cause" is not reliable (failures are stamped
 * to the second, so a tie names rank 0), hence the choice below.
 *
 * The ranks are the launcher's children; `rankPids` finds them (Linux: /proc) for a stop that must be
 * immediate (a SIGKILL to the launcher is not passed on).
 */
import { readdirSync, readFileSync } from "node:fs";
import { constants } from "node:os";

export interface RankFailure {
  rank: number;
  pid: number;
  /** The exit code; null when a signal ended the rank. */
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Collects torchrun's failure reports from the launcher's stderr, line by line. */
export class RankFailures {
  private readonly failures = new Map<number, RankFailure>();
  /** Ranks torchrun stopped itself, after the first failure (their deaths are its doing, not a cause). */
  private readonly stopped = new Set<number>();
  private rank: number | null = null;

  feed(line: string): void {
    let m = /failed \(exitcode: (-?\d+)\) local_rank: (\d+) \(pid: (\d+)\)/.exec(line);
    if (m) return this.add(Number(m[2]), Number(m[3]), Number(m[1])); // one node: the local rank is the rank
    m = /Sending process (\d+) closing signal|(?:Terminating|Closing) process (\d+) via signal/.exec(line);
    if (m) return void this.stopped.add(Number(m[1] ?? m[2]));
    m = /^\s*rank\s*: (\d+)/.exec(line);
    if (m) return void (this.rank = Number(m[1]));
    m = /^\s*exitcode\s*: (-?\d+) \(pid: (\d+)\)/.exec(line);
    if (m && this.rank !== null) this.add(this.rank, Number(m[2]), Number(m[1]));
  }

  /**
   * The rank whose failure ended the run, or null when rank 0's own error says it better: a rank
   * killed by a signal torchrun did not send; else, when rank 0 reported nothing or only that it
   * lost a peer, the first other rank that failed on its own (or rank 0, when it reported nothing).
   */
  culprit(rank0Error: { message: string } | undefined): RankFailure | null {
    const own = [...this.failures.values()].filter((f) => !this.stopped.has(f.pid));
    const killed = own.find((f) => f.signal !== null);
    if (killed) return killed;
    if (rank0Error && !PEER_LOST.test(rank0Error.message)) return null;
    return own.find((f) => f.rank !== 0) ?? (rank0Error ? null : (own[0] ?? null));
  }

  private add(rank: number, pid: number, code: number): void {
    if (this.failures.has(pid)) return;
    this.failures.set(pid, { rank, pid, code: code < 0 ? null : code, signal: code < 0 ? signalName(-code) : null });
  }
}

/** A collective that failed because another rank went away (gloo, NCCL), not because of this rank. */
const PEER_LOST = /by peer|remote process|DistNetworkError|DistBackendError|Connection closed|Broken pipe/i;

function signalName(n: number): NodeJS.Signals | null {
  return (Object.entries(constants.signals).find(([, v]) => v === n)?.[0] as NodeJS.Signals | undefined) ?? null;
}

/** The processes torchrun `launcher` started (its children), on Linux; none elsewhere. */
export function rankPids(launcher: number): number[] {
  if (process.platform !== "linux") return [];
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // "pid (comm) state ppid …": comm may hold spaces and parentheses, so read after the last ")".
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === launcher) pids.push(Number(name));
    } catch {
      /* exited meanwhile */
    }
  }
  return pids;
}
