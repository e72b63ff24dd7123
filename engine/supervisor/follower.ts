/**
 * A machine's share of a run held by another: on a node above 0 of a run on several machines, torchrun's
 * agent (whetstone_worker/launch.py, forked from the fork server on Linux) starts this machine's worker processes, which join node 0's and train each command its rank 0
 * broadcasts (whetstone_worker/distributed.py). Nobody here speaks the protocol and no run is created
 * in this machine's store: metrics, checkpoints and outputs are node 0's. What is left to do here is
 * to start torchrun, pass its output on, stop it on request and report how it exited.
 *
 * The follower's ranks read the run's data and, on a resume, its checkpoint at node 0's paths, so the
 * run folder must be at the same path on every machine (a shared filesystem).
 */
import { constants } from "node:os";
import { createInterface } from "node:readline";
import { WhetstoneError } from "../util/errors";
import { trackWorker } from "./live";
import type { Nodes } from "./launcher";
import { startWorkerChild, workerInterpreter } from "./python-run";

export interface FollowerOptions {
  python?: string;
  env?: NodeJS.ProcessEnv;
  /** Worker processes on this machine (torchrun's --nproc-per-node). */
  devices: number;
  /** This machine's node rank is above 0. */
  nodes: Nodes;
  /** Every line torchrun and the ranks write. */
  onOutput: (line: string) => void;
}

export interface Follower {
  /** Resolves with torchrun's exit code (128 + the signal's number when one killed it). */
  exited: Promise<number>;
  /** Ask the ranks to stop: torchrun passes the signal on, they cancel the run together at the next step (node 0 checkpoints). */
  stop(): void;
}

export async function startFollower(opts: FollowerOptions): Promise<Follower> {
  if (opts.nodes.node_rank === 0) {
    throw new WhetstoneError({ code: "NODES_INVALID", message: "Node 0 holds the run: it is created there, not followed.", hint: "Start node 0 with `whetstone train CONFIG` and the node options, --node-rank 0." });
  }
  const python = workerInterpreter(opts.python, opts.env);
  // Forked where it applies (the launcher and its ranks skip the imports), as node 0's worker is.
  const child = await startWorkerChild({ python: opts.python, env: opts.env, devices: opts.devices, nodes: opts.nodes, stdin: "ignore" });
  // A second Ctrl-C kills every process of the group at once (torchrun and its ranks).
  const untrack = trackWorker({
    kill: (signal) => {
      try {
        if (child.pid !== undefined && process.platform !== "win32") process.kill(-child.pid, signal);
        else child.kill(signal);
        return true;
      } catch {
        return false;
      }
    },
  });
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on("line", opts.onOutput).on("error", () => {});
    stream.resume(); // a forked launcher's connections come paused
  }
  const exited = new Promise<number>((resolve, reject) => {
    child.once("error", (e: Error) => {
      untrack();
      reject(new WhetstoneError({ code: "WORKER_MISSING", message: `Cannot start the Python worker (${python}): ${e.message}`, hint: "Run `npm install` in the Whetstone folder: it creates the worker's Python environment. WHETSTONE_PYTHON overrides the interpreter." }));
    });
    child.once("close", (code: number | null, signal: NodeJS.Signals | null) => {
      untrack();
      resolve(code ?? 128 + (signal ? constants.signals[signal] : 0));
    });
  });
  return {
    exited,
    // torchrun alone: it sends its ranks one SIGTERM (a second one would make them exit at once).
    stop: () => void child.kill("SIGTERM"),
  };
}
