/**
 * `whetstone train CONFIG --nnodes N --node-rank R …` with R above 0: this machine's share of the run
 * node 0 holds (engine/supervisor/follower.ts). No engine and no run here: torchrun's output is
 * passed on, Ctrl-C stops the ranks (the whole run then stops at its next step, with node 0's
 * checkpoint), and the command exits with torchrun's exit code.
 */
import { loadConfigFile } from "../config/file";
import { checkNodes, deviceCount, type Nodes } from "../supervisor/launcher";
import { startFollower } from "../supervisor/follower";
import type { Io } from "./io";

export async function followCommand(configPath: string, io: Io, opts: { devices?: number | "auto"; nodes: Nodes }): Promise<number> {
  // The same checks as node 0's (the method, the paths every node must see), before joining it.
  const { config } = loadConfigFile(configPath, { devices: opts.devices });
  const nodes = checkNodes(opts.nodes, config.method)!;
  const devices = deviceCount(config.training.devices);
  io.out.write(
    `node ${nodes.node_rank} of ${nodes.nnodes}: ${devices} process${devices === 1 ? "" : "es"}, joining node 0 at ${nodes.master_addr}:${nodes.master_port}\n` +
      "  this node follows node 0's run; metrics, checkpoints and outputs are written on node 0\n",
  );
  const follower = await startFollower({ devices, nodes, onOutput: (line) => io.err(line + "\n") });
  io.onInterrupt(() => {
    io.out.write("Stopping: every node stops the run at the next step, and node 0 writes a checkpoint (Ctrl-C again to quit at once).\n");
    follower.stop();
  });
  const code = await follower.exited;
  io.out.write(code === 0 ? `node ${nodes.node_rank}: done\n` : `node ${nodes.node_rank}: torchrun exited with code ${code}; node 0's run log says what happened to the run\n`);
  return code;
}
