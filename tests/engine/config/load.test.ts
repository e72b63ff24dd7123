import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, beforeAll } from "vitest";
import { validateConfig } from "../../../engine/config/load";
import { loadConfigFile } from "../../../engine/config/file";
import { WhetstoneError } from "../../../engine/util/errors";

let dir: string;
let model: string;
let data: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "whetstone-config-"));
  model = join(dir, "model");
  mkdirSync(model);
  writeFileSync(join(model, "config.json"), "{}");
  data = join(dir, "chat.jsonl");
  writeFileSync(data, '{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]}\n');
});

function write(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

function errorOf(fn: () => unknown): WhetstoneError {
  try {
    fn();
  } catch (e) {
    if (e instanceof WhetstoneError) return e;
    throw e;
  }
  throw new Error("expected a WhetstoneError");
}

const base = "model:\n  path: model\ndata:\n  train: chat.jsonl\n";

describe("loadConfigFile", () => {
  it("fills every default, resolves paths against the file's folder and names the run after the file", () => {
    const { config } = loadConfigFile(write("my-run.yaml", base));
    expect(config.name).toBe("my-run");
    expect(config.model.path).toBe(model);
    expect(config.data.train).toBe(data);
    expect(config.training.learning_rate).toBe(2e-4);
    expect(config.training.scheduler).toBe("cosine");
    expect(config.lora.target_modules).toBe("all-linear");
    expect(config.finetune).toBe("lora");
  });

  it("reads JSON configs too", () => {
    const { config } = loadConfigFile(write("c.json", JSON.stringify({ model: { path: "model" }, data: { train: "chat.jsonl" }, training: { epochs: 2 } })));
    expect(config.training.epochs).toBe(2);
  });

  it("names an unknown key, suggests the near one and gives the line", () => {
    const e = errorOf(() => loadConfigFile(write("u.yaml", base + "training:\n  learning_rat: 0.001\n")));
    expect(e.code).toBe("CONFIG_INVALID");
    expect(e.message).toContain("unknown key 'training.learning_rat'");
    expect(e.message).toContain("did you mean 'learning_rate'");
    expect(e.where).toMatch(/u\.yaml:6$/);
  });

  it("names the field, the bad value and the expected type", () => {
    const e = errorOf(() => loadConfigFile(write("t.yaml", base + "training:\n  micro_batch_size: four\n")));
    expect(e.message).toContain('training.micro_batch_size must be a number, got "four"');
    expect(e.where).toMatch(/t\.yaml:6$/);
  });

  it("names an out-of-range value with the allowed range", () => {
    const e = errorOf(() => loadConfigFile(write("r.yaml", base + "training:\n  warmup_ratio: 1.5\n")));
    expect(e.message).toContain("training.warmup_ratio must be <= 1, got 1.5");
  });

  it("lists the allowed values of an enum", () => {
    const e = errorOf(() => loadConfigFile(write("e.yaml", base + "training:\n  scheduler: exponential\n")));
    expect(e.message).toContain('training.scheduler must be one of "cosine", "linear", "wsd", "constant", got "exponential"');
  });

  it("reports every problem, not just the first", () => {
    const e = errorOf(() => loadConfigFile(write("m.yaml", base + "training:\n  epochs: -1\n  seed: 1.5\nbogus: 1\n")));
    expect(e.message).toMatch(/^The config has 3 problems/);
    expect(e.details?.join("\n")).toContain("training.seed");
    expect(e.details?.join("\n")).toContain("bogus");
  });

  it("requires model.path", () => {
    const e = errorOf(() => loadConfigFile(write("n.yaml", "data:\n  train: chat.jsonl\n")));
    expect(e.message).toContain("model is required");
  });

  it("names a missing model folder by path", () => {
    const e = errorOf(() => loadConfigFile(write("p.yaml", "model:\n  path: nowhere\ndata:\n  train: chat.jsonl\n")));
    expect(e.code).toBe("MODEL_NOT_FOUND");
    expect(e.message).toContain(join(dir, "nowhere"));
    expect(e.where).toMatch(/p\.yaml:2$/);
  });

  it("names a folder that is not a model", () => {
    mkdirSync(join(dir, "empty"), { recursive: true });
    const e = errorOf(() => loadConfigFile(write("q.yaml", "model:\n  path: empty\ndata:\n  train: chat.jsonl\n")));
    expect(e.code).toBe("MODEL_NOT_FOUND");
    expect(e.message).toContain("config.json is missing");
  });

  it.skipIf(process.getuid?.() === 0)("names an unreadable model config", () => {
    const locked = join(dir, "locked");
    mkdirSync(locked, { recursive: true });
    writeFileSync(join(locked, "config.json"), "{}");
    chmodSync(join(locked, "config.json"), 0o000);
    const e = errorOf(() => loadConfigFile(write("l.yaml", "model:\n  path: locked\ndata:\n  train: chat.jsonl\n")));
    expect(e.code).toBe("MODEL_UNREADABLE");
  });

  it("names a missing data file", () => {
    const e = errorOf(() => loadConfigFile(write("d.yaml", "model:\n  path: model\ndata:\n  train: missing.jsonl\n")));
    expect(e.code).toBe("DATA_NOT_FOUND");
    expect(e.message).toContain("missing.jsonl");
  });

  it("reports YAML syntax errors with line and column", () => {
    const e = errorOf(() => loadConfigFile(write("s.yaml", "model:\n  path: model\n data: [\n")));
    expect(e.code).toBe("CONFIG_SYNTAX");
    expect(e.where).toMatch(/s\.yaml:\d+:\d+$/);
  });

  it("reports a missing config file", () => {
    expect(errorOf(() => loadConfigFile(join(dir, "absent.yaml"))).code).toBe("CONFIG_NOT_FOUND");
  });
});

describe("NEFTune, goldfish and packing fields", () => {
  const cfg = (training: Record<string, unknown>) => ({ model: { path: model }, data: { train: data }, training });

  it("defaults: NEFTune alpha 5, goldfish off, packing on; {} turns goldfish on with the paper's settings", () => {
    const c = validateConfig(cfg({}));
    expect([c.training.neftune_alpha, c.training.goldfish, c.training.packing]).toEqual([5, null, true]);
    expect(validateConfig(cfg({ goldfish: {} })).training.goldfish).toEqual({ k: 4, h: 13, variant: "hashed" });
  });

  it.each([
    [{ neftune_alpha: -1 }, "training.neftune_alpha must be >= 0, got -1"],
    [{ goldfish: { k: 1 } }, "training.goldfish.k must be >= 2, got 1"],
    [{ goldfish: { h: 64 } }, "training.goldfish.h must be <= 32, got 64"],
    [{ goldfish: { variant: "bloom" } }, 'training.goldfish.variant must be one of "hashed", "static", "random", got "bloom"'],
    [{ goldfish: { k: 4, width: 3 } }, "unknown key 'training.goldfish.width'"],
    [{ packing: "yes" }, 'training.packing must be a boolean, got "yes"'],
  ])("rejects %j naming the field", (training, message) => {
    expect(errorOf(() => validateConfig(cfg(training))).message).toContain(message);
  });

  it("refuses a validation file and a validation split together", () => {
    const e = errorOf(() => validateConfig({ model: { path: model }, data: { train: data, validation: data, validation_split: 0.1 } }));
    expect(e.message).toContain("data.validation and data.validation_split are both set");
  });
});

describe("validateConfig", () => {
  it("rejects a non-object", () => {
    expect(errorOf(() => validateConfig([1, 2])).code).toBe("CONFIG_INVALID");
  });

  it("rejects a bad target_modules shape with the allowed forms", () => {
    const e = errorOf(() => validateConfig({ model: { path: model }, data: { train: data }, lora: { target_modules: 3 } }));
    expect(e.message).toContain("lora.target_modules");
    expect(e.message).toContain("'all-linear' or a list");
  });

  it("keeps at least two checkpoints", () => {
    const e = errorOf(() => validateConfig({ model: { path: model }, data: { train: data }, training: { keep_checkpoints: 1 } }));
    expect(e.message).toContain("training.keep_checkpoints must be >= 2, got 1");
  });
});
