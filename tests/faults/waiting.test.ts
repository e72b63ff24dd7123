/**
 * A `train` queued behind another training says so and for what, instead of printing nothing; and
 * Ctrl-C while it waits cancels it cleanly. The other training is this test process holding the
 * data home's device lock, so no worker is started.
 */
import { describe, expect, it } from "vitest";
import { DeviceLock } from "../../engine/jobs/device-lock";
import { RunStore } from "../../engine/runs/store";
import { tempHome } from "../helpers/fixture";
import { onlyRun, startCli, until, writeConfig } from "./cli";

describe("a train that waits for another", () => {
  it("prints what it waits for, and Ctrl-C cancels it while it waits", async () => {
    const home = tempHome();
    const release = await new DeviceLock(home).acquire("20261202-080000-other-run-beef");
    try {
      const cli = startCli(["train", writeConfig(home, "queued", { max_steps: 2 })], home);
      await until("the waiting line", () => cli.out().includes("Waiting for run") || undefined);
      expect(cli.out()).toContain(`waiting  Waiting for run 20261202-080000-other-run-beef (pid ${process.pid}) to finish: one training at a time on this machine.`);
      const run = onlyRun(home)!;
      expect(run).toMatchObject({ state: "queued", phase: "waiting" });
      process.kill(-cli.child.pid!, "SIGINT");
      expect(await cli.exited).toBe(130);
      expect(new RunStore(home).get(run.id).state).toBe("cancelled");
    } finally {
      release();
    }
  });
});
