/**
 * Every error code the engine, the Electron shell and the worker can raise has an HTTP status, and
 * only INTERNAL (500) and "not reachable now" (503: offline, judge server down) are 5xx. The codes are found in the sources, not listed by hand: TypeScript
 * `code: "…"` (and the codes handed to trainedWeights), every upper-case `"A_B"` literal in engine
 * and electron TypeScript, the worker's `WorkerError("…")` / `emitter.error(id, "…")`, and the
 * dataset issue table. A new code without a status fails here with its name and file.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../../engine/paths";
import { ISSUE_CODES } from "../../../engine/data/issues";
import { STATUS_BY_CODE, statusFor } from "../../../engine/server/status";

/** Upper-case literals in TypeScript that are not Whetstone error codes: environment variables, and zlib's own error code. */
const NOT_CODES = new Set(["Z_BUF_ERROR", "WHETSTONE_HOME", "HF_HOME", "HF_TOKEN", "HF_HUB_OFFLINE", "HF_ENDPOINT", "ELECTRON_RUN_AS_NODE", "NODE_OPTIONS", "ERR_PARSE_ARGS_UNKNOWN_OPTION"]);
const SKIP_DIRS = new Set(["node_modules", ".venv", "__pycache__", "dist", "tests", ".cache"]);

function files(dir: string, ext: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (SKIP_DIRS.has(name)) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p, ext));
    else if (p.endsWith(ext)) out.push(p);
  }
  return out;
}

function codesInSources(): Map<string, string> {
  const found = new Map<string, string>();
  const add = (code: string, file: string) => void (found.has(code) || found.set(code, relative(PROJECT_ROOT, file)));
  for (const file of [...files(join(PROJECT_ROOT, "engine"), ".ts"), ...files(join(PROJECT_ROOT, "electron"), ".ts")]) {
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(/\bcode:\s*"([A-Z][A-Z0-9_]*)"/g)) add(m[1]!, file);
    for (const m of text.matchAll(/\bcode\s*\?\?\s*"([A-Z][A-Z0-9_]*)"/g)) add(m[1]!, file);
    for (const m of text.matchAll(/"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"/g)) if (!NOT_CODES.has(m[1]!) && !m[1]!.startsWith("WHETSTONE_")) add(m[1]!, file);
  }
  for (const file of files(join(PROJECT_ROOT, "engine", "worker", "whetstone_worker"), ".py")) {
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(/\b(?:WorkerError|\.error)\(\s*(?:[^"()]{0,40}(?:\([^()]*\))?\s*,\s*)?"([A-Z][A-Z0-9_]*)"/g)) add(m[1]!, file);
  }
  for (const code of Object.keys(ISSUE_CODES)) add(code, "engine/data/issues.ts");
  return found;
}

describe("error code → HTTP status", () => {
  const found = codesInSources();

  it("finds the codes it is meant to find (the scan itself works)", () => {
    for (const code of ["INTERNAL", "RUN_NOT_FOUND", "API_TOO_LARGE", "OUT_OF_MEMORY", "HUB_GATED", "PROTOCOL_ERROR", "DATA_JSON_SYNTAX", "RUN_NOT_EXPORTABLE", "KEYCHAIN_FAILED", "WORKER_CRASHED"]) {
      expect(found.has(code), code).toBe(true);
    }
    expect(found.size).toBeGreaterThan(120);
  });

  it("maps every code the sources can raise", () => {
    const unmapped = [...found].filter(([code]) => !(code in STATUS_BY_CODE)).map(([code, file]) => `${code} (${file})`);
    expect(unmapped, "add these to engine/server/status.ts").toEqual([]);
  });

  it("answers 5xx only for INTERNAL and for what is unreachable now (503)", () => {
    const fiveHundreds = Object.entries(STATUS_BY_CODE).filter(([, s]) => s >= 500).map(([c]) => c).sort();
    expect(fiveHundreds).toEqual(["BENCH_DATA_OFFLINE", "HUB_OFFLINE", "INTERNAL", "JUDGE_OFFLINE", "JUDGE_UNREACHABLE"]);
    expect(statusFor("INTERNAL")).toBe(500);
    expect(statusFor("JUDGE_OFFLINE")).toBe(503); // issue #15: the judge offline is 503, an export that exists 409
    expect(statusFor("EXPORT_EXISTS")).toBe(409);
    for (const status of Object.values(STATUS_BY_CODE)) expect([400, 401, 403, 404, 405, 409, 413, 422, 424, 500, 503]).toContain(status);
  });

  it("gives the HTTP meaning to the codes clients branch on", () => {
    expect(statusFor("RUN_NOT_FOUND")).toBe(404);
    expect(statusFor("API_UNKNOWN_METHOD")).toBe(404);
    expect(statusFor("UNAUTHORIZED")).toBe(401);
    expect(statusFor("API_TOKEN_IN_URL")).toBe(401);
    expect(statusFor("FORBIDDEN_ORIGIN")).toBe(403);
    expect(statusFor("API_TOO_LARGE")).toBe(413);
    expect(statusFor("RUN_ACTIVE")).toBe(409);
    expect(statusFor("RUN_ID_INVALID")).toBe(400);
    // The Hub refusing the user's Hugging Face token is not this API refusing its own token.
    expect(statusFor("HUB_UNAUTHORIZED")).not.toBe(401);
    expect(statusFor("NO_SUCH_CODE_ANYWHERE")).toBe(500);
  });
});
