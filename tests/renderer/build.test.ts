/** The UI builds, and nothing it imports from the engine pulls Node modules into the browser bundle. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../engine/paths";

describe("renderer build", () => {
  it("bundles without Node built-ins", () => {
    const out = mkdtempSync(join(tmpdir(), "renderer-"));
    const r = spawnSync(process.execPath, [join(PROJECT_ROOT, "node_modules/vite/bin/vite.js"), "build", "--config", "renderer/vite.config.ts", "--outDir", out, "--emptyOutDir"], {
      cwd: PROJECT_ROOT,
      encoding: "utf8",
      // As `npm start` and the packaged app build it: under vitest's NODE_ENV=test, Vite keeps quiet about
      // Node modules it leaves out, and this test passed while the bundle pulled in the run store.
      env: { ...process.env, NODE_ENV: "production" },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toMatch(/externalized for browser compatibility/);
    expect(readdirSync(out)).toContain("index.html");
  });
});
