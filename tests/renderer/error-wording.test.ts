/**
 * Every error code the engine, the worker or the data check can raise has GUI wording, and the
 * wording speaks to people: no command-line flags, no config keys. The codes are read from the
 * sources themselves, so a new code without wording fails here.
 */
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../engine/paths";
import { ERROR_WORDING, ISSUE_WORDING } from "../../renderer/src/lib/error-wording";
import { ISSUE_CODES } from "../../engine/data/issues";
import { datasetName, describeError, forPeople } from "../../renderer/src/lib/messages";

function files(dir: string, ext: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (name === "node_modules" || name === ".venv" || name === "tests" || name === "__pycache__") return [];
    return statSync(p).isDirectory() ? files(p, ext) : p.endsWith(ext) ? [p] : [];
  });
}

const engineCodes = () => {
  const codes = new Set<string>();
  for (const f of files(join(PROJECT_ROOT, "engine"), ".ts")) for (const m of readFileSync(f, "utf8").matchAll(/code: "([A-Z][A-Z0-9_]+)"/g)) codes.add(m[1]!);
  return codes;
};
const workerCodes = () => {
  const codes = new Set<string>();
  for (const f of files(join(PROJECT_ROOT, "engine", "worker", "whetstone_worker"), ".py")) {
    const text = readFileSync(f, "utf8");
    for (const m of text.matchAll(/WorkerError\(\s*"([A-Z][A-Z0-9_]+)"/g)) codes.add(m[1]!);
    for (const m of text.matchAll(/^\s+"([A-Z]+(?:_[A-Z0-9]+)+)",\s*$/gm)) codes.add(m[1]!);
  }
  return codes;
};

describe("GUI wording for engine errors", () => {
  it("covers every code the engine and the worker raise", () => {
    const codes = [...engineCodes(), ...workerCodes()];
    expect(codes.length).toBeGreaterThan(80);
    expect(codes.filter((c) => !ERROR_WORDING[c] && !ISSUE_WORDING[c])).toEqual([]);
  });

  it("covers every dataset issue code", () => {
    expect(Object.keys(ISSUE_CODES).filter((c) => !ISSUE_WORDING[c])).toEqual([]);
  });

  it("speaks to people: no CLI flags, commands or config keys", () => {
    const texts = [...Object.values(ERROR_WORDING).flatMap((w) => [w.title, w.fix]), ...Object.values(ISSUE_WORDING)];
    for (const t of texts) {
      expect(t, t).not.toMatch(/(^|\s)--[a-z]/);
      expect(t, t).not.toMatch(/`|whetstone /);
      expect(t, t).not.toMatch(/\b(model|data|training|lora|preference)\.[a-z_]+/);
    }
  });

  it("names the user's file, not the stored copy, and settings by their labels", () => {
    const stored = "/home/u/.local/share/whetstone/datasets/bfda9d291edc-bad.jsonl";
    const shown = describeError({ code: "DATA_INVALID", message: `${stored}:3: training.micro_batch_size is too big` }, { [stored]: "bad.jsonl" });
    expect(shown.message).toBe("bad.jsonl:3: “Micro-batch size” is too big");
    expect(shown.title).toBe("The dataset has errors");
    expect(forPeople("bfda9d291edc-bad.jsonl line 3", { [stored]: "bad.jsonl" })).toBe("bad.jsonl line 3");
    expect(describeError({ code: "SOMETHING_NEW", message: "x" }).title).toBe("Something went wrong");
    expect(datasetName(stored)).toBe("bad.jsonl");
    expect(datasetName("/data/0123456789ab-notes.jsonl")).toBe("0123456789ab-notes.jsonl"); // only uploads carry the hash prefix
  });
});
