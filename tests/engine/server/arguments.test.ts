/**
 * engine/server/arguments.ts covers every path-like field of the API contract: a new method or
 * field that names a run, a file or a folder fails here until it is listed (or said not to be one).
 */
import { describe, expect, it } from "vitest";
import { API, API_METHODS } from "../../../engine/api/contract";
import { PATH_ARGUMENTS, checkApiArguments } from "../../../engine/server/arguments";

/** Field names that name runs, files or folders. */
const PATHISH = /^(id|ids|against|path|model|out|prompts|judge|embeddingModel|configPath|baseDir|config|revision|seeds|evalPrompts|evalRun|responderModels|responderRuns|taxonomy)$/;
/** Path-like names that are not paths here, and why. */
const NOT_PATHS: Record<string, string> = {
  "pullModel.id": "a hub id (owner/name), checked by isHubId before any use",
  "listFolders.path": "the folder browser's own check keeps it inside the home, the HF cache and mounted volumes",
  "checkModel.path": "checked as the user types (~, hub ids, half-typed paths): it lists one folder and reads its config.json, and answers a report, not an error",
  "generate.prompts": "conversations, not a file",
  "benchRun.against": "only 'base' (the schema's enum): benchmarks compare a run with its base model",
};

describe("path arguments of the API", () => {
  it("lists every path-like field of every method", () => {
    const missing: string[] = [];
    for (const method of API_METHODS) {
      const shape = (API[method].input as unknown as { shape?: Record<string, unknown> }).shape ?? {};
      for (const field of Object.keys(shape)) {
        if (!PATHISH.test(field) || NOT_PATHS[`${method}.${field}`]) continue;
        if (!(PATH_ARGUMENTS[method] ?? []).some((f) => f.name === field)) missing.push(`${method}.${field}`);
      }
    }
    expect(missing, "add these to PATH_ARGUMENTS in engine/server/arguments.ts").toEqual([]);
  });

  it("quotes a hostile run reference without its control characters", () => {
    expect(() => checkApiArguments("getRun", { id: "a\u001b[31m/../x" }, { home: "/tmp/h" })).toThrow(expect.objectContaining({ code: "RUN_ID_INVALID", message: expect.stringContaining("'a?[31m/../x'") }));
  });

  it("lets a config name its model and data by hub id (resolved in the Hugging Face cache), not by a relative path", () => {
    const config = { model: { path: "Qwen/Qwen2.5-0.5B-Instruct" }, data: { train: "tatsu-lab/alpaca" } };
    expect(() => checkApiArguments("planRun", { config }, { home: "/tmp/h" })).not.toThrow();
    expect(() => checkApiArguments("planRun", { config: { ...config, data: { train: "data/train.jsonl/x/y" } } }, { home: "/tmp/h" })).toThrow(expect.objectContaining({ code: "API_BAD_PATH", message: expect.stringContaining("planRun: config.data.train: 'data/train.jsonl/x/y' is not a full path") }));
  });

  it("accepts run ids, names and 'base'", () => {
    for (const id of ["20261123-212229-tiny-sft-fff7", "tiny-sft", "lr-1e-4", "v1.2_final"]) expect(() => checkApiArguments("getRun", { id }, { home: "/tmp/h" }), id).not.toThrow();
    expect(() => checkApiArguments("getEval", { id: "r", against: "base" }, { home: "/tmp/h" })).not.toThrow();
    for (const id of ["..", ".", "-rf", "a/b", "a\\b", "/abs", "x".repeat(201)]) expect(() => checkApiArguments("getRun", { id }, { home: "/tmp/h" }), id).toThrow(expect.objectContaining({ code: "RUN_ID_INVALID" }));
  });
});

describe("path arguments of a synthesis", () => {
  it("checks each responder folder and run, and the judge", () => {
    const base = { method: "magpie", n: 2, out: "/tmp/x.jsonl", model: "/tmp" };
    expect(() => checkApiArguments("synthData", { ...base, responderModels: ["/tmp", "relative/model"] }, { home: "/tmp/h" })).toThrow(expect.objectContaining({ code: "API_BAD_PATH", message: expect.stringContaining("synthData: responderModels[1]") }));
    expect(() => checkApiArguments("synthData", { ...base, responderRuns: ["lr-1e-4", "../x"] }, { home: "/tmp/h" })).toThrow(expect.objectContaining({ code: "RUN_ID_INVALID", message: expect.stringContaining("responderRuns[1]") }));
    expect(() => checkApiArguments("synthData", { ...base, judge: "http://127.0.0.1:8080/v1", responderModels: ["/tmp"] }, { home: "/tmp/h" })).not.toThrow();
  });
});

describe("path arguments of a sweep", () => {
  it("checks the judge and prompts of its spec and of its config's sweep block", () => {
    const config = { model: { path: "/tmp" }, data: { train: "/tmp" } };
    expect(() => checkApiArguments("startSweep", { config, spec: { judge: "relative/judge" } }, { home: "/tmp/h" })).toThrow(expect.objectContaining({ code: "API_BAD_PATH", message: expect.stringContaining("startSweep: spec.judge") }));
    expect(() => checkApiArguments("startSweep", { config, spec: { judge: "http://127.0.0.1:8000/v1" } }, { home: "/tmp/h" })).not.toThrow();
    expect(() => checkApiArguments("startSweep", { config: { ...config, sweep: { prompts: "/etc/passwd" } } }, { home: "/tmp/h" })).toThrow(expect.objectContaining({ code: "API_SYSTEM_PATH", message: expect.stringContaining("config.sweep.prompts") }));
    expect(() => checkApiArguments("getSweep", { id: "../x" }, { home: "/tmp/h" })).toThrow(expect.objectContaining({ code: "RUN_ID_INVALID" }));
  });
});

describe("path arguments of rounds", () => {
  it("checks the judge, prompts and synthesis files of the spec and of the config's rounds block", () => {
    const config = { model: { path: "/tmp" }, data: { train: "/tmp" } };
    expect(() => checkApiArguments("startRounds", { config, spec: { judge: "relative/judge" } }, { home: "/tmp/h" })).toThrow(expect.objectContaining({ code: "API_BAD_PATH", message: expect.stringContaining("startRounds: spec.judge") }));
    expect(() => checkApiArguments("startRounds", { config, spec: { synth: { seeds: "/etc/shadow" } } }, { home: "/tmp/h" })).toThrow(expect.objectContaining({ code: "API_SYSTEM_PATH", message: expect.stringContaining("spec.synth.seeds") }));
    expect(() => checkApiArguments("startRounds", { config: { ...config, rounds: { prompts: "/etc/passwd" } } }, { home: "/tmp/h" })).toThrow(expect.objectContaining({ code: "API_SYSTEM_PATH", message: expect.stringContaining("config.rounds.prompts") }));
    expect(() => checkApiArguments("startRounds", { config: { ...config, rounds: { synth: { eval_prompts: "/etc/passwd" } } } }, { home: "/tmp/h" })).toThrow(expect.objectContaining({ code: "API_SYSTEM_PATH", message: expect.stringContaining("config.rounds.synth.eval_prompts") }));
    expect(() => checkApiArguments("startRounds", { config, spec: { judge: "http://127.0.0.1:8000/v1", rounds: 2 } }, { home: "/tmp/h" })).not.toThrow();
    expect(() => checkApiArguments("getRounds", { id: "../x" }, { home: "/tmp/h" })).toThrow(expect.objectContaining({ code: "RUN_ID_INVALID" }));
  });
});
