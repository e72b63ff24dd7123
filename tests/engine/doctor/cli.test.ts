/** `whetstone doctor` on this machine, through the CLI and the API: the real probes, no recording. */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Engine } from "../../../engine/api/engine";
import { PROJECT_ROOT } from "../../../engine/paths";
import { tempHome } from "../../helpers/fixture";
import { HANG_MS } from "../../helpers/limits";

describe("whetstone doctor", () => {
  it("reports this machine, with a fix naming a command that exists", async () => {
    const home = tempHome();
    const r = spawnSync(process.execPath, [join(PROJECT_ROOT, "bin", "whetstone.mjs"), "doctor", "--json"], { env: { ...process.env, WHETSTONE_HOME: home }, encoding: "utf8", timeout: HANG_MS });
    const report = JSON.parse(r.stdout) as { summary: { accelerator: string; ready: boolean }; findings: { level: string; topic: string; message: string; fix?: string }[] };
    expect(r.status).toBe(report.summary.ready ? 0 : 1);
    const torch = report.findings.find((f) => f.topic === "torch")!.message;
    expect(torch).toMatch(/^torch build: (CPU-only|CUDA \S+|ROCm \S+|Apple MPS)$/);
    if (torch === "torch build: CPU-only") expect(report.summary.accelerator).toBe("CPU only");
    expect(report.findings.some((f) => f.topic === "disk" && f.message.includes(home))).toBe(true);
    for (const f of report.findings) {
      for (const [, cmd] of (f.fix ?? "").matchAll(/`whetstone (\w+)/g)) expect(["setup", "models", "doctor", "train"]).toContain(cmd);
    }
    const api = await new Engine({ home }).call("doctor", {});
    expect(api.summary).toEqual(report.summary);

    const help = spawnSync(process.execPath, [join(PROJECT_ROOT, "bin", "whetstone.mjs"), "setup", "--cuda", "--cpu"], { encoding: "utf8" });
    expect(help.status).toBe(2);
    expect(help.stderr).toContain("Pick one torch build");
  });
});
