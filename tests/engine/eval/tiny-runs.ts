/**
 * Two finished tiny runs with held-out splits, trained once by the real engine into the git-ignored
 * .cache/test-runs/ and copied into each test's own temporary home (run folders are plain folders;
 * the absolute paths in status.json and config.json are rewritten to the copy). The eval and merge
 * tests share them instead of training four runs. Rebuilt when the tiny model changes.
 */
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Engine } from "../../../engine/api/engine";
import { PROJECT_ROOT } from "../../../engine/paths";
import { ensureTinyModel, tempHome, tinyConfig } from "../../helpers/fixture";

const SPECS = [
  { name: "lr-high", data: { validation_split: 0.1 }, training: { max_steps: 4, learning_rate: 3e-2 } },
  { name: "lr-low", data: { validation_split: 0.1 }, training: { max_steps: 4, learning_rate: 1e-3, seed: 7 } },
];

export async function tinyRuns(): Promise<{ home: string; ids: string[] }> {
  const model = ensureTinyModel();
  const key = createHash("sha256").update(JSON.stringify(SPECS)).update(model).update(String(statSync(join(model, "model.safetensors")).mtimeMs)).digest("hex").slice(0, 16);
  const cache = join(PROJECT_ROOT, ".cache", "test-runs", key);
  if (!existsSync(join(cache, "ids.json"))) {
    const building = `${cache}.building-${process.pid}`;
    rmSync(building, { recursive: true, force: true });
    const engine = new Engine({ home: building });
    const ids: string[] = [];
    for (const spec of SPECS) ids.push((await engine.createRun({ config: tinyConfig(spec) })).id);
    for (const id of ids) if ((await engine.waitForRun(id)).state !== "completed") throw new Error(`tiny run ${id} did not complete: ${engine.getLog({ id }).join("\n")}`);
    writeFileSync(join(building, "ids.json"), JSON.stringify({ ids, home: building }));
    mkdirSync(join(cache, ".."), { recursive: true });
    try {
      renameSync(building, cache);
    } catch {
      rmSync(building, { recursive: true, force: true }); // another process finished first: use its runs
    }
  }
  const { ids, home: built } = JSON.parse(readFileSync(join(cache, "ids.json"), "utf8")) as { ids: string[]; home: string };
  const home = tempHome();
  cpSync(join(cache, "runs"), join(home, "runs"), { recursive: true });
  for (const id of readdirSync(join(home, "runs"))) {
    for (const file of ["status.json", "config.json"]) {
      const path = join(home, "runs", id, file);
      writeFileSync(path, readFileSync(path, "utf8").split(built).join(home));
    }
  }
  return { home, ids };
}
