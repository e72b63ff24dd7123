/**
 * Run references are names, not paths: every engine method that takes a run id refuses `..`,
 * separators and absolute paths (RUN_ID_INVALID) and never reads or touches a run of another data
 * home. A run folder with a damaged status.json is listed as damaged with the fix, and `show`
 * explains it. No worker is started here.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { validateConfig } from "../../engine/config/load";
import { Engine } from "../../engine/api/engine";
import { RunStore } from "../../engine/runs/store";
import { tempHome, tinyConfig } from "../helpers/fixture";
import { runCli } from "./cli";

const config = () => validateConfig(tinyConfig(), { checkPaths: false });

describe("run references stay inside the data home", () => {
  const home = tempHome();
  const other = new RunStore(tempHome());
  const foreign = other.create(config());
  const engine = new Engine({ home });
  const mine = engine.store.create(config());
  const traversal = relative(engine.store.runsDir, other.runDir(foreign.id));

  it.each([
    ["a relative path to another home's run", traversal],
    ["an absolute path", other.runDir(foreign.id)],
    ["a parent folder", ".."],
    ["a path inside this home", `${mine.id}/../${mine.id}`],
    ["a hidden name", ".status"],
    ["a backslash path", `..\\..\\${foreign.id}`],
  ])("refuses %s with RUN_ID_INVALID on every method", async (_, ref) => {
    const before = readFileSync(join(other.runDir(foreign.id), "status.json"), "utf8");
    for (const [method, input] of [
      ["getRun", { id: ref }],
      ["getMetrics", { id: ref }],
      ["getLog", { id: ref }],
      ["resumeRun", { id: ref }],
      ["cancelRun", { id: ref }],
      ["getExports", { id: ref }],
      ["getAudit", { id: ref }],
    ] as const) {
      await expect(engine.dispatch(method, input), `${method}(${ref})`).rejects.toMatchObject({
        code: "RUN_ID_INVALID",
        hint: expect.stringContaining("`whetstone runs` lists them"),
      });
    }
    expect(readFileSync(join(other.runDir(foreign.id), "status.json"), "utf8")).toBe(before);
  });

  it("still resolves ids, unique prefixes and names", () => {
    expect(engine.store.resolve(mine.id)).toBe(mine.id);
    expect(engine.store.resolve(mine.id.slice(0, -2))).toBe(mine.id);
    expect(engine.store.resolve("tiny-test")).toBe(mine.id);
  });

  it("the CLI says what is wrong and exits 1", () => {
    const r = runCli(["show", traversal], home);
    expect(r.code).toBe(1);
    expect(r.err).toContain("error[RUN_ID_INVALID]");
    expect(r.err).toContain("it contains a path separator");
    expect(r.out).toBe("");
  });
});

describe("a damaged run folder", () => {
  it("is listed by `runs` as damaged with the fix, and `show` explains it", () => {
    const home = tempHome();
    const store = new RunStore(home);
    const good = store.create(config());
    const bad = store.create({ ...config(), name: "torn" });
    writeFileSync(join(store.runDir(bad.id), "status.json"), '{"id": "torn", "state": "runn');
    const empty = store.create({ ...config(), name: "empty" });
    writeFileSync(join(store.runDir(empty.id), "status.json"), "");
    mkdirSync(join(store.runsDir, "not-a-run")); // no status.json at all: not a run, not listed

    const runs = runCli(["runs"], home);
    expect(runs.code).toBe(0);
    expect(runs.out).toMatch(new RegExp(`^${good.id} +queued`, "m"));
    expect(runs.out).toContain("2 damaged run folders (status.json unreadable; checkpoints and outputs untouched):");
    expect(runs.out).toMatch(new RegExp(`${bad.id} +damaged: status.json is not valid JSON`));
    expect(runs.out).toMatch(new RegExp(`${empty.id} +damaged: status.json is empty`));
    expect(runs.out).toContain(`fix: copy out what you need from ${store.runDir(bad.id)} (checkpoints/, outputs/), then delete that folder`);
    expect(runs.out).not.toContain("not-a-run");

    const show = runCli(["show", bad.id.slice(0, -2)], home);
    expect(show.code).toBe(1);
    expect(show.err).toContain(`error[RUN_DAMAGED]: Run ${bad.id} is damaged: status.json is not valid JSON`);
    expect(show.err).toContain(`hint: Its checkpoints and outputs in ${store.runDir(bad.id)} are untouched`);
  });
});
