/** KTO through the engine: its settings resolve with defaults (and another method's are refused), its
 *  snapshot keeps each row's label, the sft snapshot of the same file leaves the bad rows out, and pairs
 *  or conversations without labels are refused before any worker starts. */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { validateConfig } from "../../../engine/config/load";
import { writeSnapshot } from "../../../engine/data/snapshot";
import { PROJECT_ROOT } from "../../../engine/paths";
import { WhetstoneError } from "../../../engine/util/errors";
import { nullSettings } from "../../helpers/fixture";

const DATA = join(PROJECT_ROOT, "examples", "data");
const rows = (dir: string) => readFileSync(join(dir, "data", "train.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
const errorOf = async (p: Promise<unknown>) => p.then(() => null, (e: WhetstoneError) => e);

describe("kto in the engine", () => {
  it("resolves the method's defaults and refuses another method's settings", () => {
    const base = { model: { path: "/models/m" }, data: { train: join(DATA, "tiny-kto.jsonl") }, method: "kto" };
    const resolved = validateConfig(base, { checkPaths: false });
    expect(resolved.preference).toEqual({ ...nullSettings, beta: 0.1, desirable_weight: 1, undesirable_weight: 1 });
    expect(validateConfig({ ...base, preference: { undesirable_weight: 1.33 } }, { checkPaths: false }).preference).toMatchObject({ undesirable_weight: 1.33, beta: 0.1 });
    expect(() => validateConfig({ ...base, preference: { lambda: 0.1 } }, { checkPaths: false })).toThrow(/preference.lambda is a setting of orpo, not of method kto/);
    expect(() => validateConfig({ ...base, method: "dpo", preference: { desirable_weight: 1 } }, { checkPaths: false })).toThrow(/desirable_weight is a setting of kto/);
  });

  it("snapshots labelled rows for kto (TRL's prompt/completion/label and LLaMA-Factory's messages/label alike)", async () => {
    for (const file of ["tiny-kto.jsonl", "tiny-kto-val.jsonl"]) {
      const run = mkdtempSync(join(tmpdir(), "kto-"));
      await writeSnapshot(join(DATA, file), run, { method: "kto" });
      const out = rows(run);
      expect(out.length).toBe(file === "tiny-kto.jsonl" ? 96 : 24);
      expect(out.filter((r) => r.label === true).length).toBe(out.length / 2);
      expect(out.every((r) => Array.isArray(r.messages) && r.messages.at(-1).role === "assistant" && typeof r.label === "boolean")).toBe(true);
    }
  });

  it("for sft, the same file trains only the rows labelled true", async () => {
    const run = mkdtempSync(join(tmpdir(), "kto-"));
    await writeSnapshot(join(DATA, "tiny-kto.jsonl"), run, { method: "sft" });
    const out = rows(run);
    expect(out.length).toBe(48);
    expect(out.every((r) => !("label" in r))).toBe(true);
  });

  it("refuses pairs and unlabelled conversations for kto, saying what kto needs", async () => {
    for (const file of [join(DATA, "tiny-pairs.jsonl"), join(PROJECT_ROOT, "examples", "tiny-chat.jsonl")]) {
      const e = await errorOf(writeSnapshot(file, mkdtempSync(join(tmpdir(), "kto-")), { method: "kto" }));
      expect(e?.code).toBe("DATA_METHOD_MISMATCH");
      expect(e?.message).toContain("method kto trains on rows labelled desirable or not");
    }
  });
});
