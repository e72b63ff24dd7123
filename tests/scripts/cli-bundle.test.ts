import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain ES module script without types
import { CLI_BUNDLE, ROOT, buildCliBundle, cliBundleFresh } from "../../scripts/cli-bundle.mjs";

const bin = join(ROOT, "bin", "whetstone.mjs");

describe("the compiled whetstone CLI", () => {
  it("is rebuilt when an engine source is newer, and prints what the TypeScript source prints", async () => {
    await buildCliBundle();
    expect(cliBundleFresh()).toBe(true);
    // An edited source: the bundle is older than it, so the next start rebuilds instead of running stale code.
    // (A fixed date: "an hour ago" was still newer than every source of a checkout left alone for an hour.)
    const old = new Date("2001-01-01T00:00:00Z");
    utimesSync(CLI_BUNDLE, old, old);
    expect(cliBundleFresh()).toBe(false);
    const compiled = spawnSync(process.execPath, [bin, "help"], { encoding: "utf8" });
    expect(compiled.status).toBe(0);
    expect(statSync(CLI_BUNDLE).mtimeMs).toBeGreaterThan(old.getTime() + 1000);
    expect(cliBundleFresh()).toBe(true);
    const source = spawnSync(process.execPath, ["--import", "tsx", "-e", `const { main } = await import(${JSON.stringify(join(ROOT, "engine/cli/main.ts"))}); process.exitCode = await main(["help"]);`], { cwd: ROOT, encoding: "utf8" });
    expect(source.status).toBe(0);
    expect(compiled.stdout).toBe(source.stdout);
    expect(compiled.stdout).toMatch(/^whetstone \d+\.\d+\.\d+: fine-tune/);
  });

  it("is split: help loads the entry and the option tables, a command loads its own chunks when it runs", () => {
    const home = mkdtempSync(join(tmpdir(), "ws-bundle-"));
    const runs = spawnSync(process.execPath, [bin, "runs"], { encoding: "utf8", env: { ...process.env, WHETSTONE_HOME: home } });
    expect(runs.stderr).toBe("");
    expect(runs.stdout).toContain("No runs yet");
    const dir = dirname(CLI_BUNDLE);
    const entry = /"\.\/(main-[A-Z0-9]+\.mjs)"/.exec(readFileSync(CLI_BUNDLE, "utf8"))?.[1];
    expect(entry && existsSync(join(dir, entry))).toBe(true);
    const staticImports = (file: string) => [...readFileSync(join(dir, file), "utf8").matchAll(/from\s*"\.\/([^"]+)"/g)].map((m) => m[1]!);
    const seen = new Set<string>();
    const walk = (f: string) => !seen.has(f) && (seen.add(f), staticImports(f).forEach(walk));
    walk(entry!);
    const loadedForHelp = [...seen].reduce((n, f) => n + statSync(join(dir, f)).size, 0);
    const all = readdirSync(dir).filter((f) => f.endsWith(".mjs")).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
    expect(loadedForHelp).toBeLessThan(all / 10); // zod, the data readers and the engine load only for commands that use them
  });
});
