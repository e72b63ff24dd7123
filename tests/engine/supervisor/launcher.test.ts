/** The worker's launch arguments (one process, torchrun's agent on one machine, across machines) and the node options' checks. */
import { describe, expect, it } from "vitest";
import { checkNodes, launchOptions, runNodes, workerArgs } from "../../../engine/supervisor/launcher";
import { WhetstoneError } from "../../../engine/util/errors";

const nodes = { nnodes: 2, node_rank: 1, master_addr: "10.0.0.1", master_port: 29511 };

/** The error a call throws, as code and message. */
function refusal(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(WhetstoneError);
    return { code: (e as WhetstoneError).code, message: (e as WhetstoneError).message };
  }
  throw new Error("did not throw");
}

describe("workerArgs", () => {
  it("one process: the worker module alone", () => {
    expect(workerArgs(1)).toEqual(["-u", "-m", "whetstone_worker"]);
    expect(workerArgs(1, null)).toEqual(["-u", "-m", "whetstone_worker"]);
  });

  it("several processes on this machine: the launcher (torchrun's agent) standalone", () => {
    expect(workerArgs(4)).toEqual(["-u", "-m", "whetstone_worker.launch", "--standalone", "--nproc-per-node=4"]);
    expect(launchOptions(4)).toEqual(["--standalone", "--nproc-per-node=4"]);
    expect(launchOptions(1)).toBeNull();
  });

  it("several machines: torchrun with the nodes in place of --standalone, the devices per node kept (one device too)", () => {
    expect(workerArgs(2, nodes)).toEqual([
      "-u", "-m", "whetstone_worker.launch",
      "--nnodes=2", "--node-rank=1", "--master-addr=10.0.0.1", "--master-port=29511", "--nproc-per-node=2",
    ]);
    expect(workerArgs(1, { ...nodes, node_rank: 0 })).toContain("--node-rank=0");
    expect(workerArgs(1, { ...nodes, node_rank: 0 })).toContain("--nproc-per-node=1");
  });
});

describe("checkNodes", () => {
  it("completes the options: rank 0 and torchrun's port by default; one machine is no nodes", () => {
    expect(checkNodes({ nnodes: 2, master_addr: " node0.lan " })).toEqual({ nnodes: 2, node_rank: 0, master_addr: "node0.lan", master_port: 29500 });
    expect(checkNodes(nodes)).toEqual(nodes);
    expect(checkNodes({})).toBeNull();
    expect(checkNodes({ nnodes: 1 })).toBeNull();
  });

  it("refuses each bad option by name, with NODES_INVALID", () => {
    expect(refusal(() => checkNodes({ ...nodes, node_rank: 2 }))).toEqual({ code: "NODES_INVALID", message: "--node-rank 2: with --nnodes 2 a machine's rank is 0 to 1." });
    expect(refusal(() => checkNodes({ ...nodes, node_rank: -1 })).message).toMatch(/--node-rank -1/);
    expect(refusal(() => checkNodes({ ...nodes, master_port: 0 })).message).toBe("--master-port 0: a port is 1 to 65535.");
    expect(refusal(() => checkNodes({ ...nodes, master_port: 65536 })).message).toMatch(/--master-port 65536/);
    expect(refusal(() => checkNodes({ nnodes: 3, node_rank: 1 })).message).toBe("--master-addr is required with --nnodes 3: the machines meet at node 0's address.");
    expect(refusal(() => checkNodes({ ...nodes, master_addr: "a b" })).message).toMatch(/not a host name/);
    expect(refusal(() => checkNodes({ nnodes: 0 })).message).toMatch(/--nnodes 0/);
    expect(refusal(() => checkNodes({ node_rank: 1 })).message).toBe("--node-rank 1 is for a run on several machines, and --nnodes is 1.");
    expect(refusal(() => checkNodes({ master_addr: "10.0.0.1" })).message).toMatch(/--master-addr is for a run on several machines/);
  });

  it("refuses a method not yet trained on several processes", () => {
    expect(checkNodes(nodes, "dpo")).toEqual(nodes);
    expect(refusal(() => checkNodes(nodes, "kto")).message).toMatch(/training on several machines is available for methods sft, dpo, simpo, orpo so far, and this run is kto/);
    expect(checkNodes({ nnodes: 1 }, "kto")).toBeNull();
  });

  it("a run is created on node 0 only: another rank follows it", () => {
    expect(runNodes({ ...nodes, node_rank: 0 }, "sft")).toEqual({ ...nodes, node_rank: 0 });
    expect(refusal(() => runNodes(nodes, "sft")).message).toBe("--node-rank 1: a run is created on node 0; the machine with rank 1 follows it.");
  });
});
