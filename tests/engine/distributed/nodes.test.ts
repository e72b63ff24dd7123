/**
 * One run on two machines (torchrun nodes), played by two process groups on 127.0.0.1: node 0 is an
 * engine run created with the nodes (it holds the run), node 1 is `whetstone train` with
 * --node-rank 1, which makes no run and launches its share as a follower. The run's losses equal a two-process run's on one machine
 * step by step: the nodes change where the ranks live, not what they compute. Every config override
 * goes through createRun's `devices` (the CLI's --devices), so the stored config records it.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../../engine/api/engine";
import { PROJECT_ROOT } from "../../../engine/paths";
import { ensureTinyModel, tempHome, tinyConfig, writeConfig } from "../../helpers/fixture";

beforeAll(() => {
  ensureTinyModel();
});

const training = { max_steps: 2, micro_batch_size: 2, gradient_accumulation: 2, neftune_alpha: 0, checkpoint_every: 2 };

/** A port nothing listens on now (the OS's pick, released at once). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function train(engine: Engine, input: Parameters<Engine["createRun"]>[0]) {
  const run = await engine.call("createRun", { ...input, preflight: "never" });
  const done = await engine.call("awaitRun", { id: run.id });
  expect(done.state, engine.getLog({ id: run.id, tail: 40 }).join("\n")).toBe("completed");
  return { id: run.id, losses: engine.getMetrics({ id: run.id }).map((m) => m.loss!) };
}

describe("a run on two nodes", () => {
  it("node 0 holds the run, node 1 follows it, and the losses are a two-process run's", async () => {
    const home = tempHome();
    const config = writeConfig(home, "tiny.json", JSON.stringify(tinyConfig({ training })));
    const standalone = new Engine({ home: tempHome() });
    const reference = await train(standalone, { configPath: config, devices: 2 });
    expect(standalone.getRun({ id: reference.id }).config).toMatchObject({ training: { devices: 2 } });

    const port = await freePort();
    const nodes = { nnodes: 2, master_addr: "127.0.0.1", master_port: port };
    const nodeOne = spawn(
      process.execPath,
      [join(PROJECT_ROOT, "bin", "whetstone.mjs"), "train", config, "--devices", "1", "--nnodes", "2", "--node-rank", "1", "--master-addr", "127.0.0.1", "--master-port", String(port)],
      { env: { ...process.env, WHETSTONE_HOME: tempHome() } },
    );
    let out = "";
    let err = "";
    nodeOne.stdout.on("data", (b: Buffer) => (out += b.toString()));
    nodeOne.stderr.on("data", (b: Buffer) => (err += b.toString()));
    const exited = once(nodeOne, "close") as Promise<[number | null]>;
    const engine = new Engine({ home });
    const run = await train(engine, { config: tinyConfig({ training }), devices: 1, nodes: { ...nodes, node_rank: 0 } }).catch((e: unknown) => {
      nodeOne.kill("SIGTERM"); // else it waits ten minutes for a node 0 that failed
      throw e;
    });
    const [code] = await exited;
    expect(code, err.slice(-3000)).toBe(0);
    expect(out).toContain("node 1 of 2: 1 process, joining node 0 at 127.0.0.1:");
    expect(out).toContain("this node follows node 0's run; metrics, checkpoints and outputs are written on node 0");

    const { status, config: stored } = engine.getRun({ id: run.id });
    expect(status.nodes).toEqual({ ...nodes, node_rank: 0 });
    expect(stored).toMatchObject({ training: { devices: 1 } });
    const log = engine.getLog({ id: run.id, tail: 200 }).join("\n");
    expect(log).toMatch(/Waiting for the other machine to join at 127\.0\.0\.1:\d+/);
    expect(log).toMatch(/Training on 2 processes \(gloo\)/);
    expect(run.losses).toHaveLength(2);
    for (const [i, loss] of run.losses.entries()) expect(Math.abs(loss - reference.losses[i]!) / Math.abs(reference.losses[i]!)).toBeLessThan(1e-5);
    expect(engine.listRuns()).toHaveLength(1);
    await Promise.all([engine.close(), standalone.close()]);
  }, 240_000);

  it("a cancel stops node 0's wait for the other machines", async () => {
    const engine = new Engine({ home: tempHome() });
    const run = await engine.call("createRun", { config: tinyConfig({ training }), nodes: { nnodes: 2, master_addr: "127.0.0.1", master_port: await freePort() }, preflight: "never" });
    while (!engine.getLog({ id: run.id }).some((l) => l.startsWith("Waiting for the other machine"))) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 2000)); // torchrun is up, waiting at the rendezvous
    const asked = Date.now();
    expect((await engine.call("cancelRun", { id: run.id })).state).toBe("cancelled");
    expect(Date.now() - asked).toBeLessThan(20_000);
    await engine.close();
  }, 60_000);

  it("a run is created on node 0 only, for methods that train on several processes", async () => {
    const engine = new Engine({ home: tempHome() });
    const nodes = { nnodes: 2, master_addr: "127.0.0.1" };
    await expect(engine.call("createRun", { config: tinyConfig({ training }), nodes: { ...nodes, node_rank: 1 } })).rejects.toMatchObject({ code: "NODES_INVALID", message: expect.stringMatching(/a run is created on node 0/) });
    await expect(engine.call("createRun", { config: tinyConfig({ training }), nodes: { ...nodes, master_port: 70000 } })).rejects.toMatchObject({ code: "NODES_INVALID" });
    await expect(engine.call("createRun", { config: tinyConfig({ method: "kto", training }), devices: 2 })).rejects.toMatchObject({ code: "CONFIG_INVALID", message: expect.stringMatching(/training.devices 2: training on several devices is available for methods sft, dpo, simpo, orpo so far, and this run is kto/) });
    expect(engine.listRuns()).toHaveLength(0);
    await engine.close();
  });
});
