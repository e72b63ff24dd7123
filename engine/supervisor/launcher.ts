/**
 * How the Python worker is launched: one process (`python -m whetstone_worker`), or torchrun's agent
 * (`python -m whetstone_worker.launch`, its ranks forked from it) starting one per device on this
 * machine (`--standalone`), or joining several machines (nodes) that meet at node 0's address (static
 * rendezvous). The arguments are built here alone, for the engine's
 * worker (./worker-process.ts) and for a follower node's launch (./follower.ts), so the two sides of
 * one run cannot be launched two ways.
 *
 * Global rank 0 lives on node 0, so node 0 holds the run (its rank 0 speaks the protocol and writes
 * the run folder); a node above 0 only follows: its ranks receive each training command from rank 0.
 */
import { WhetstoneError } from "../util/errors";
import { listGpus } from "../plan/plan";
import type { Nodes, NodesInput } from "../runs/types";
import { DISTRIBUTED_METHODS, trainsOnSeveralDevices } from "../config/methods";

/** torchrun's own default, so `--master-port` can be left out on every node alike. */
export const DEFAULT_MASTER_PORT = 29500;

export type { Nodes, NodesInput };

const invalid = (message: string, hint: string) => new WhetstoneError({ code: "NODES_INVALID", message, hint });

/**
 * The nodes checked and completed, or null for one machine (a count of 1 with nothing else); with
 * `method`, one that trains on several processes. NODES_INVALID names the value and the rule, in the
 * CLI's flags (the only way to give them by hand).
 */
export function checkNodes(input: Partial<NodesInput>, method?: string): Nodes | null {
  const { nnodes = 1, node_rank: rank = 0, master_addr: addr, master_port: port = DEFAULT_MASTER_PORT } = input;
  if (!Number.isInteger(nnodes) || nnodes < 1) throw invalid(`--nnodes ${nnodes}: the number of machines must be a whole number of at least 1.`, "Give how many machines train the run, counting this one.");
  if (nnodes === 1) {
    const stray = input.node_rank !== undefined && input.node_rank !== 0 ? `--node-rank ${input.node_rank}` : addr !== undefined ? "--master-addr" : input.master_port !== undefined ? "--master-port" : null;
    if (stray) throw invalid(`${stray} is for a run on several machines, and --nnodes is ${nnodes}.`, "Give --nnodes (the number of machines) too, or leave the node options out to train on this machine alone.");
    return null;
  }
  if (!Number.isInteger(rank) || rank < 0 || rank >= nnodes) throw invalid(`--node-rank ${rank}: with --nnodes ${nnodes} a machine's rank is 0 to ${nnodes - 1}.`, "Number the machines 0, 1, …: node 0 holds the run, each other machine gets its own rank.");
  if (addr === undefined || addr.trim() === "") throw invalid(`--master-addr is required with --nnodes ${nnodes}: the machines meet at node 0's address.`, "Give node 0's host name or IP address, the same on every machine (reachable from all of them).");
  if (/\s/.test(addr.trim()) || addr.trim().startsWith("-")) throw invalid(`--master-addr '${addr}' is not a host name or an IP address.`, "Give node 0's host name or IP address, for example 10.0.0.1.");
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalid(`--master-port ${port}: a port is 1 to 65535.`, `Give a free port on node 0, the same on every machine (torchrun's default is ${DEFAULT_MASTER_PORT}).`);
  if (method !== undefined && !trainsOnSeveralDevices(method)) throw invalid(`--nnodes ${nnodes}: training on several machines is available for methods ${DISTRIBUTED_METHODS.join(", ")} so far, and this run is ${method}.`, "Train this run on one machine (leave the node options out).");
  return { nnodes, node_rank: rank, master_addr: addr.trim(), master_port: port };
}

/**
 * The nodes of a run created on this machine, which must be node 0: global rank 0, which holds the
 * run, lives there. A machine above 0 does not create a run; it follows node 0's (./follower.ts).
 */
export function runNodes(input: Partial<NodesInput>, method: string): Nodes | null {
  const nodes = checkNodes(input, method);
  if (nodes && nodes.node_rank !== 0) {
    throw invalid(`--node-rank ${nodes.node_rank}: a run is created on node 0; the machine with rank ${nodes.node_rank} follows it.`, "Run `whetstone train CONFIG` with the same node options on that machine: with a rank above 0 it launches its share of the run and follows node 0.");
  }
  return nodes;
}

/** training.devices as a process count on this machine: "auto" is every GPU nvidia-smi lists (1 without one). */
export function deviceCount(devices: number | "auto" | undefined): number {
  return devices === "auto" ? Math.max(1, listGpus().length) : (devices ?? 1);
}

/**
 * torchrun's options for a worker of `devices` processes on this machine, on one node or as this
 * machine's part of `nodes`; null for one process (no launcher). whetstone_worker.launch takes them:
 * torchrun's own agent, with ranks forked from the launcher instead of each importing torch again.
 */
export function launchOptions(devices: number, nodes: Nodes | null = null): string[] | null {
  if (nodes === null && devices <= 1) return null;
  const where = nodes === null ? ["--standalone"] : [`--nnodes=${nodes.nnodes}`, `--node-rank=${nodes.node_rank}`, `--master-addr=${nodes.master_addr}`, `--master-port=${nodes.master_port}`];
  return [...where, `--nproc-per-node=${devices}`];
}

/** The interpreter's arguments for a spawned worker: the worker module, or its launcher with torchrun's options (launchOptions). */
export function workerArgs(devices: number, nodes: Nodes | null = null): string[] {
  const launch = launchOptions(devices, nodes);
  return launch === null ? ["-u", "-m", "whetstone_worker"] : ["-u", "-m", "whetstone_worker.launch", ...launch];
}
